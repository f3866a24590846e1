"""Helpers for the survey tests: small surveys built from generated images, a server in a thread or in its
own process (the real command line), and a bare HTTP client that can send anything, malformed included."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from conftest import ROOT, write_images
from util.survey.build import Source, build_survey
from util.survey.server import SurveyState, make_server

SURVEY = [sys.executable, str(ROOT / "scripts" / "survey.py")]
URL_LINE = re.compile(r"at http://([^/]+):(\d+)/")


def make_survey(tmp_path: Path, n: int = 8, seed: int = 0, name: str = "survey", **kwargs: Any) -> Path:
    """A survey of n images (half real JPEGs, half fake PNGs, each pool 2n) in tmp_path/name."""
    real, fake = tmp_path / f"{name}_real", tmp_path / f"{name}_fake"
    write_images(real, 2 * n, size=(80, 64), seed=seed + 1, ext=".jpg")  # MaskedFace-Net ships JPEGs
    write_images(fake, 2 * n, size=(48, 48), seed=seed + 2, prefix="gen")
    out = tmp_path / name
    build_survey(Source("--real", (str(real),), None), Source("--fake", (str(fake),), None), n, out, seed=seed,
                 size=kwargs.pop("size", 32), **kwargs)
    return out


def labels(folder: Path) -> dict[str, str]:
    key = json.loads((folder / "key.json").read_text())
    return {image: entry["label"] for image, entry in key["images"].items()}


class Client:
    """One HTTP/1.0-style request per connection, like a browser hitting a fresh server thread."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float = 20) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(data) if kind.startswith("application/json") else data

    def post(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})

    def start(self) -> dict[str, Any]:
        status, view = self.post("/api/start", {})
        assert status == 201, view
        return view

    def answer(self, respondent: str, image: str, answer: str, ms: int | None = 100) -> tuple[int, Any]:
        return self.post("/api/answer", {"respondent": respondent, "image": image, "answer": answer, "ms": ms})


@contextmanager
def server_thread(folder: Path, **kwargs: Any) -> Iterator[tuple[Client, SurveyState]]:
    """The server in this process, on a free port (fast; lets a test patch what it calls)."""
    state = SurveyState(folder, **kwargs)
    server = make_server(state, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Client("127.0.0.1", server.server_address[1]), state
    finally:
        server.shutdown()
        server.server_close()
        state.log.close()
        thread.join(5)


class ServerProcess:
    """``survey.py serve`` as a user runs it, in its own process; ``port`` 0 picks a free one."""

    def __init__(self, folder: Path, port: int = 0, extra: list[str] | None = None):
        self.proc = subprocess.Popen(SURVEY + ["serve", str(folder), "--port", str(port)] + (extra or []),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()
        match = URL_LINE.search(line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"no URL from survey.py serve: {line!r} {self.proc.stderr.read()}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}/"
        self.client = Client(self.host, self.port)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def log_lines(folder: Path) -> list[bytes]:
    path = folder / "answers.jsonl"
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_survey_cli(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(SURVEY + argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
