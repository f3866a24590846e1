"""The survey's HTTP server: the page, the images and a small JSON API (standard library only).

    GET  /                       the page (index.html of the survey folder)
    GET  /images/<id>.<format>   an image of the survey (nothing else in the folder is served)
    POST /api/start              {}  -> a new respondent with their own random order of image ids
    GET  /api/respondent/<id>    where a respondent is (the page resumes from it after a reload)
    POST /api/answer             {"respondent", "image", "answer": "real"|"fake", "ms"}

Every respondent view is ``{"respondent", "order", "answered", "total", "done"}`` plus ``"score"``
(correct answers) once done; the labels themselves never leave the server.

Rules, each refused with a JSON ``{"error": ...}`` and nothing stored: answers come one at a time, in
the respondent's order (an image already answered is 409, another respondent's or an unknown image
400); bodies are JSON objects of at most ``MAX_BODY`` bytes with a Content-Length (413, 411, 415,
400 otherwise); a cross-origin browser request is 403. One lock serialises the checks and the log
append, and an answer is fsync'd to ``answers.jsonl`` before its reply is sent, so concurrent
respondents cannot interleave half-records or race one answer in twice, and a crash loses nothing
that was acknowledged. On start the server replays the log, so respondents continue after a restart.
"""
from __future__ import annotations

import errno
import ipaddress
import json
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from util.errors import UserError
from util.survey.folder import load_survey
from util.survey.store import (ANSWERS, RESPONDENT_ID, AnswerLog, Respondent, answer_record, read_log, replay,
                               start_record, valid_ms)

MAX_BODY = 2048          # an answer is about 150 bytes
MAX_DRAIN = 64 * 1024    # an oversized body up to this is read and answered 413; a larger one just closes
SOCKET_TIMEOUT_S = 15    # a client that stops sending mid-request frees its thread after this
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}
PAGE_POLICY = ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ANSWER_KEYS = {"respondent", "image", "answer", "ms"}


class Refused(Exception):
    """A request the server turns down: an HTTP status and a message for the respondent."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class SurveyState:
    """The survey, its key and its respondents; every change goes through the log under one lock."""

    def __init__(self, folder: str | Path, max_respondents: int = 10_000):
        self.folder = Path(folder)
        survey, key = load_survey(self.folder, with_key=True)
        self.images: list[str] = list(survey["images"])
        self.labels = {i: key["images"][i]["label"] for i in self.images}
        self.format = survey["format"]
        self.page = self._read(self.folder / "index.html")
        self.files = {i: self._read(self.folder / "images" / f"{i}.{self.format}") for i in self.images}
        self.max_respondents = max_respondents
        self.log_path = self.folder / "answers.jsonl"
        records, bad_lines = read_log(self.log_path)
        self.respondents, problems = replay(records, self.images)
        for line in bad_lines:
            print(f"survey: warning: {self.log_path} line {line} is not a JSON record (a torn write?); it is ignored",
                  file=sys.stderr)
        for problem in problems:
            print(f"survey: warning: {self.log_path}: {problem}; ignored", file=sys.stderr)
        self.log = AnswerLog(self.log_path)
        self.lock = threading.Lock()
        self._rng = random.SystemRandom()

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as err:
            raise UserError(f"cannot read {path} ({err.strerror}); rebuild the survey with 'survey.py build'") from err

    def view(self, r: Respondent) -> dict[str, Any]:
        out = {"respondent": r.id, "order": r.order, "answered": len(r.answers), "total": len(r.order), "done": r.done}
        if r.done:
            out["score"] = r.correct(self.labels)
        return out

    def respondent(self, rid: str) -> Respondent:
        r = self.respondents.get(rid) if isinstance(rid, str) else None
        if r is None:
            raise Refused(HTTPStatus.NOT_FOUND, "unknown respondent")
        return r

    def where(self, rid: str) -> dict[str, Any]:
        with self.lock:
            return self.view(self.respondent(rid))

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        if body:
            raise Refused(HTTPStatus.BAD_REQUEST, "start takes an empty JSON object")
        with self.lock:
            if len(self.respondents) >= self.max_respondents:
                raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, "this survey has all the respondents it takes")
            rid = secrets.token_hex(16)
            r = Respondent(rid, self._rng.sample(self.images, len(self.images)), time.time())
            self._append(start_record(r))
            self.respondents[rid] = r
            return self.view(r)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        if not set(body) <= ANSWER_KEYS or not {"respondent", "image", "answer"} <= set(body):
            raise Refused(HTTPStatus.BAD_REQUEST, "an answer is {respondent, image, answer, ms}")
        rid, image, answer, ms = body["respondent"], body["image"], body["answer"], body.get("ms")
        if not isinstance(rid, str) or not RESPONDENT_ID.match(rid):
            raise Refused(HTTPStatus.BAD_REQUEST, "malformed respondent id")
        if not isinstance(image, str) or image not in self.labels:
            raise Refused(HTTPStatus.BAD_REQUEST, "unknown image")
        if answer not in ANSWERS:
            raise Refused(HTTPStatus.BAD_REQUEST, "answer must be 'real' or 'fake'")
        if not valid_ms(ms):
            raise Refused(HTTPStatus.BAD_REQUEST, "ms must be a whole number of milliseconds, or null")
        with self.lock:
            r = self.respondent(rid)
            if r.done:
                raise Refused(HTTPStatus.CONFLICT, "this survey is already finished")
            if image != r.current:
                answered = image in r.order[: len(r.answers)]
                raise Refused(HTTPStatus.CONFLICT, "this image is already answered" if answered
                              else "this is not the current image")
            self._append(answer_record(r, answer, ms))
            r.answers.append(answer)
            r.ms.append(ms)
            if r.done:
                done = sum(x.done for x in self.respondents.values())
                print(f"survey: respondent {rid[:8]} finished with {r.correct(self.labels)}/{len(r.order)} "
                      f"({done} finished so far)", flush=True)
            return self.view(r)

    def _append(self, record: dict[str, Any]) -> None:
        try:
            self.log.append(record)
        except OSError as err:
            print(f"survey: error: cannot append to {self.log_path} ({err.strerror}); the answer was refused",
                  file=sys.stderr, flush=True)
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE,
                          "the server could not save this answer; please try again in a moment") from err


class Handler(BaseHTTPRequestHandler):
    server_version = "survey"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_S
    state: SurveyState  # set on the subclass made by make_server

    IMAGE_PATH = re.compile(r"^/images/([0-9a-f]{16})\.(png|jpg)$")
    RESPONDENT_PATH = re.compile(r"^/api/respondent/([0-9a-f]{32})$")

    allowed_hosts: frozenset[str] | None = None  # None: any Host header (a server open to the network)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = urlsplit(self.path).path
        if not self._host_allowed():
            return
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.state.page, "text/html; charset=utf-8",
                       {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store"})
        elif (m := self.IMAGE_PATH.match(path)) and m.group(1) in self.state.files and m.group(2) == self.state.format:
            self._send(HTTPStatus.OK, self.state.files[m.group(1)], CONTENT_TYPES[self.state.format],
                       {"Cache-Control": "private, max-age=86400"})
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon", {"Cache-Control": "max-age=86400"})
        elif m := self.RESPONDENT_PATH.match(path):
            try:
                self._send_json(HTTPStatus.OK, self.state.where(m.group(1)))
            except Refused as err:
                self._refuse(err)
        else:
            self._refuse(Refused(HTTPStatus.NOT_FOUND, "not found"))

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        action = {"/api/start": self.state.start, "/api/answer": self.state.answer}.get(path)
        if not self._host_allowed():
            return
        try:
            if action is None:
                raise Refused(HTTPStatus.NOT_FOUND, "not found")
            body = self._read_json()
            status = HTTPStatus.CREATED if path == "/api/start" else HTTPStatus.OK
            self._send_json(status, action(body))
        except Refused as err:
            self._refuse(err)

    def _host_allowed(self) -> bool:
        """On a loopback address, only requests for this machine by name: a web page whose domain is made to
        resolve to 127.0.0.1 (DNS rebinding) sends its own name as Host and is turned away."""
        if self.allowed_hosts is None or (self.headers.get("Host") or "").lower() in self.allowed_hosts:
            return True
        self._refuse(Refused(HTTPStatus.MISDIRECTED_REQUEST, "this survey answers only to its own address"))
        return False

    def _read_json(self) -> dict[str, Any]:
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != self.headers.get("Host"):
            raise Refused(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")
        if self.headers.get_content_type() != "application/json":
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
        if "Transfer-Encoding" in self.headers or self.headers.get("Content-Length") is None:
            raise Refused(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length")
        try:
            length = int(self.headers["Content-Length"])
        except ValueError:
            length = -1
        if length < 0:
            raise Refused(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
        try:
            if length > MAX_BODY:
                if length <= MAX_DRAIN:
                    self.rfile.read(length)  # read it, so the client gets the answer instead of a reset
                else:
                    self.close_connection = True
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is larger than {MAX_BODY} bytes")
            raw = self.rfile.read(length)
        except OSError:  # the client stalled past SOCKET_TIMEOUT_S or went away
            raw = b""
        if len(raw) != length:
            raise Refused(HTTPStatus.BAD_REQUEST, "the body ended early")
        try:
            body = json.loads(raw) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Refused(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _refuse(self, err: Refused) -> None:
        if err.status != HTTPStatus.NOT_FOUND or self.path.startswith("/api/"):
            print(f"survey: refused {self.command} {self.path[:80]}: {err.status.value} {err}", file=sys.stderr,
                  flush=True)
        self._send_json(err.status, {"error": str(err)})

    def _send_json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8",
                   {"Cache-Control": "no-store"})

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client left; whatever it sent is already stored or refused

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        pass  # one line per request would drown the refusals and finished respondents


class SurveyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many respondents may connect at the same moment


def make_server(state: SurveyState, host: str, port: int) -> SurveyServer:
    handler = type("SurveyHandler", (Handler,), {"state": state})
    server_class = SurveyServer
    if ":" in host:
        server_class = type("SurveyServer6", (SurveyServer,), {"address_family": socket.AF_INET6})
    try:
        server = server_class((host, port), handler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise UserError(f"--port {port} is in use on {host}; pass another --port (or stop what holds it)") from err
        raise UserError(f"--host {host} --port {port}: cannot listen there ({err.strerror or err}); "
                        "use --host 127.0.0.1 or an address of this machine") from err
    if is_loopback(host):
        bound = server.server_address[1]
        names = ("127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host.lower())
        with_port = {f"{name}:{bound}" for name in names}
        handler.allowed_hosts = frozenset(with_port | (set(names) if bound == 80 else set()))
    return server


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000, max_respondents: int = 10_000) -> int:
    """Serve a survey until SIGTERM or Ctrl+C; returns 0."""
    state = SurveyState(folder, max_respondents)
    try:
        server = make_server(state, host, port)
    except UserError:
        state.log.close()
        raise
    bound_port = server.server_address[1]
    shown_host = f"[{host}]" if ":" in host else host
    finished = sum(r.done for r in state.respondents.values())
    print(f"survey: {len(state.images)} images at http://{shown_host}:{bound_port}/ ; answers go to "
          f"{state.log_path} ({len(state.respondents)} respondents so far, {finished} finished); Ctrl+C stops",
          flush=True)
    if not is_loopback(host):
        print(f"survey: warning: --host {host} makes the survey reachable from other machines", flush=True)
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:  # SIGTERM (systemd, kill, a cluster's scheduler) stops it as cleanly as Ctrl+C
        def stop(*_: Any) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()  # shutdown() waits: not in the handler
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
        server.server_close()
        with state.lock:
            state.log.close()
            answers = sum(len(r.answers) for r in state.respondents.values())
        print(f"survey: stopped; {len(state.respondents)} respondents and {answers} answers are in {state.log_path}",
              flush=True)
    return 0
