"""survey.py serve: one image at a time in each respondent's own order, every answer on disk before it is
acknowledged, concurrent respondents kept apart, and every malformed or tampered request refused."""
from __future__ import annotations

import http.client
import json
import random
import socket
import threading
from collections import Counter
from pathlib import Path

import pytest

from survey_support import (Client, ServerProcess, labels, log_lines, make_survey, run_survey_cli, server_thread,
                            wait_for)
from util.survey import store


@pytest.fixture
def survey(tmp_path: Path) -> Path:
    return make_survey(tmp_path, n=8)


def test_a_whole_survey_through_the_api(survey: Path):
    key = labels(survey)
    with server_thread(survey) as (client, state):
        status, page = client.request("GET", "/")
        assert status == 200 and b"Real or fake?" in page
        view = client.start()
        rid, order = view["respondent"], view["order"]
        assert sorted(order) == sorted(key) and view == {"respondent": rid, "order": order, "answered": 0,
                                                         "total": 8, "done": False}
        for image in order:  # every image of the survey, and nothing else, is served
            status, data = client.request("GET", f"/images/{image}.png")
            assert status == 200 and data == (survey / "images" / f"{image}.png").read_bytes()
        answers = [random.Random(1).choice(["real", "fake"]) for _ in order]
        for i, (image, answer) in enumerate(zip(order, answers)):
            status, view = client.answer(rid, image, answer, ms=100 + i)
            assert status == 200 and view["answered"] == i + 1
            assert view["done"] == (i == 7) and ("score" in view) == (i == 7)
        assert view["score"] == sum(a == key[i] for i, a in zip(order, answers))
        assert client.request("GET", f"/api/respondent/{rid}") == (200, view)

    records = [json.loads(line) for line in log_lines(survey)]
    assert [r["event"] for r in records] == ["start"] + ["answer"] * 8
    assert records[0]["order"] == order
    assert [(r["index"], r["image"], r["answer"], r["ms"]) for r in records[1:]] == \
        [(i, image, a, 100 + i) for i, (image, a) in enumerate(zip(order, answers))]
    assert all("label" not in line.decode() for line in log_lines(survey))


def test_each_respondent_gets_their_own_uniform_order(survey: Path):
    with server_thread(survey) as (client, state):
        # The server draws from the system's entropy; seeded here, so that the counts below are those of
        # one fixed draw instead of failing once in a few million runs.
        state._rng = random.Random(0)
        orders = [tuple(client.start()["order"]) for _ in range(240)]
    assert len(set(orders)) > 200  # 8! = 40320 orders
    first = Counter(order[0] for order in orders)
    assert len(first) == 8 and all(5 <= count <= 60 for count in first.values())  # 30 expected, SD 5.1


def test_every_answer_is_fsynced_before_the_reply(survey: Path, monkeypatch):
    synced: list[int] = []
    real_fsync = store.os.fsync

    def recording_fsync(fd):
        real_fsync(fd)
        synced.append(len(log_lines(survey)))  # lines on disk when the fsync is done

    monkeypatch.setattr(store.os, "fsync", recording_fsync)
    with server_thread(survey) as (client, _):
        synced.clear()  # (opening a new log fsyncs its folder)
        view = client.start()
        assert synced == [1]
        for i, image in enumerate(view["order"][:3]):
            client.answer(view["respondent"], image, "real")
            assert synced[-1] == 2 + i and len(synced) == 2 + i  # one fsync per answer, done when it replies


def test_a_killed_server_loses_nothing_and_respondents_continue(survey: Path):
    key = labels(survey)
    with ServerProcess(survey) as server:
        view = server.client.start()
        rid, order = view["respondent"], view["order"]
        for i, image in enumerate(order[:3]):
            assert server.client.answer(rid, image, "fake")[0] == 200
            assert len(log_lines(survey)) == 2 + i  # on disk as soon as the reply is here
        server.kill()
    with ServerProcess(survey) as server:
        status, view = server.client.request("GET", f"/api/respondent/{rid}")
        assert status == 200 and view["order"] == order and view["answered"] == 3
        assert server.client.answer(rid, order[2], "fake")[0] == 409  # still refused after the restart
        for image in order[3:]:
            status, view = server.client.answer(rid, image, key[image])
        assert view["done"] and view["score"] == 5 + sum(key[i] == "fake" for i in order[:3])
        code, out, _ = server.stop()
    assert code == 0 and "stopped; 1 respondents and 8 answers" in out


def test_a_torn_last_line_is_sealed_not_merged(survey: Path, capsys):
    with server_thread(survey) as (client, _):
        view = client.start()
        rid, order = view["respondent"], view["order"]
        client.answer(rid, order[0], "real")
    log = survey / "answers.jsonl"
    with open(log, "ab") as f:  # power lost in the middle of the next record
        f.write(b'{"event":"answer","respondent":"' + rid.encode() + b'","ind')
    with server_thread(survey) as (client, state):
        assert "line 3 is not a JSON record" in capsys.readouterr().err
        assert state.respondents[rid].answers == ["real"]
        assert client.answer(rid, order[1], "fake")[0] == 200
    lines = log_lines(survey)
    assert lines[2].endswith(b'"ind\n') and json.loads(lines[3])["image"] == order[1]
    records, bad = store.read_log(log)
    assert bad == [3] and store.replay(records, order)[0][rid].answers == ["real", "fake"]


def test_a_failed_append_refuses_the_answer_and_keeps_the_log(survey: Path, monkeypatch):
    with server_thread(survey) as (client, state):
        view = client.start()
        rid, order = view["respondent"], view["order"]
        real_write = store.os.write

        def half_then_full_disk(fd, data):  # writes part of the record, then the disk is full
            monkeypatch.setattr(store.os, "write", failing)
            return real_write(fd, bytes(data[: len(data) // 2]))

        def failing(fd, data):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store.os, "write", half_then_full_disk)
        status, reply = client.answer(rid, order[0], "real")
        assert status == 503 and "could not save" in reply["error"]
        assert state.respondents[rid].answers == []
        monkeypatch.setattr(store.os, "write", real_write)  # space freed: the same answer goes through
        assert client.answer(rid, order[0], "real")[0] == 200
    records, bad = store.read_log(survey / "answers.jsonl")
    assert bad == [2] and [r["event"] for r in records] == ["start", "answer"]


def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as they are (for the requests http.client would not send)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


BAD_ANSWERS = {
    "unknown image": ({"image": "0123456789abcdef"}, 400, "unknown image"),
    "not the current image": ({"image": "NEXT"}, 409, "not the current image"),
    "duplicate answer": ({"image": "FIRST"}, 409, "already answered"),
    "unknown respondent": ({"respondent": "f" * 32}, 404, "unknown respondent"),
    "malformed respondent": ({"respondent": "../key.json"}, 400, "malformed respondent id"),
    "answer not real/fake": ({"answer": "maybe"}, 400, "'real' or 'fake'"),
    "answer capitalised": ({"answer": "Real"}, 400, "'real' or 'fake'"),
    "negative ms": ({"ms": -5}, 400, "ms must be"),
    "ms as text": ({"ms": "12"}, 400, "ms must be"),
    "ms as bool": ({"ms": True}, 400, "ms must be"),
    "ms too large": ({"ms": 10**12}, 400, "ms must be"),
    "extra field": ({"label": "real"}, 400, "an answer is"),
    "missing field": ({"answer": None}, 400, "an answer is"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_bad_answers_are_refused_and_nothing_is_stored(survey: Path, case: str):
    change, status, message = BAD_ANSWERS[case]
    with server_thread(survey) as (client, state):
        view = client.start()
        rid, order = view["respondent"], view["order"]
        assert client.answer(rid, order[0], "real")[0] == 200
        body = {"respondent": rid, "image": order[1], "answer": "fake", "ms": 10}
        for field, value in change.items():
            value = {"NEXT": order[2], "FIRST": order[0]}.get(value, value) if isinstance(value, str) else value
            if value is None:
                del body[field]
            else:
                body[field] = value
        before = log_lines(survey)
        got, reply = client.post("/api/answer", body)
        assert (got, message in reply["error"]) == (status, True), reply
        assert log_lines(survey) == before and state.respondents[rid].answers == ["real"]
        assert client.answer(rid, order[1], "fake")[0] == 200  # the respondent can go on


def test_answers_after_the_end_are_refused(survey: Path):
    with server_thread(survey) as (client, _):
        view = client.start()
        for image in view["order"]:
            client.answer(view["respondent"], image, "real")
        before = log_lines(survey)
        status, reply = client.answer(view["respondent"], view["order"][-1], "fake")
        assert status == 409 and "already finished" in reply["error"] and log_lines(survey) == before


@pytest.mark.parametrize("case, expected", [
    ("not json", 400), ("json list", 400), ("start with fields", 400), ("text/plain", 415),
    ("form post", 415), ("cross-origin", 403), ("body of 16 KiB", 413), ("chunked", 411), ("no length", 411),
    ("negative length", 400), ("unknown endpoint", 404), ("body shorter than its length", 400),
    ("rebound host name", 421),
])
def test_malformed_requests_are_refused(survey: Path, case: str, expected: int):
    with server_thread(survey) as (client, state):
        port = client.port
        before = log_lines(survey)
        start = b"POST /api/start HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % port
        if case == "not json":
            status, _ = client.post("/api/start", b"{not json")
        elif case == "json list":
            status, _ = client.post("/api/start", b"[]")
        elif case == "start with fields":
            status, _ = client.post("/api/start", {"respondent": "a" * 32})
        elif case == "text/plain":  # what a cross-site form or a no-preflight fetch would send
            status, _ = client.request("POST", "/api/start", b"{}", {"Content-Type": "text/plain"})
        elif case == "form post":
            status, _ = client.request("POST", "/api/start", b"a=1",
                                       {"Content-Type": "application/x-www-form-urlencoded"})
        elif case == "cross-origin":
            status, _ = client.post("/api/start", {}, {"Origin": "http://evil.example"})
        elif case == "body of 16 KiB":
            status, _ = client.post("/api/start", b"{" + b" " * 16384 + b"}")
        elif case == "chunked":
            status, _ = raw_request(port, start + b"Content-Type: application/json\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n", b"2\r\n{}\r\n0\r\n\r\n")
        elif case == "no length":
            status, _ = raw_request(port, start + b"Content-Type: application/json\r\n\r\n")
        elif case == "negative length":
            status, _ = raw_request(port, start + b"Content-Type: application/json\r\nContent-Length: -4\r\n\r\n")
        elif case == "rebound host name":  # a site whose name was made to resolve to 127.0.0.1 (DNS rebinding)
            rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
            assert client.request("GET", "/", headers=rebound)[0] == 421
            status, _ = client.post("/api/start", {}, rebound)
        elif case == "unknown endpoint":
            status, _ = client.post("/api/reset", {})
        elif case == "body shorter than its length":
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(start + b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{}")
                sock.shutdown(socket.SHUT_WR)
                status = int(sock.recv(4096).split(b" ", 2)[1])
        assert status == expected
        assert log_lines(survey) == before and state.respondents == {}


def test_a_huge_body_is_refused_without_reading_it(survey: Path):
    with server_thread(survey) as (client, state):
        try:
            status, _ = client.post("/api/start", b"{" + b" " * (64 << 20) + b"}")
        except (ConnectionError, http.client.HTTPException, OSError):
            status = 413  # the server closed on the oversized body before the client finished sending
        assert status == 413
        assert state.respondents == {} and log_lines(survey) == []
        assert client.start()["total"] == 8  # and it still serves


@pytest.mark.parametrize("path", ["/key.json", "/survey.json", "/answers.jsonl", "/images/../key.json",
                                  "/images/%2e%2e/key.json", "/report/report.md", "/images/0123456789abcdef.png",
                                  "/api/respondent/../../key.json", "/index.html/../key.json"])
def test_nothing_but_the_page_and_the_images_is_served(survey: Path, path: str):
    with server_thread(survey) as (client, _):
        client.start()
        status, body = client.request("GET", path)
        assert status == 404 and b"real" not in json.dumps(body).encode()
        if path == "/images/0123456789abcdef.png":  # a real image asked for in the other format
            image = json.loads((survey / "survey.json").read_text())["images"][0]
            assert client.request("GET", f"/images/{image}.jpg")[0] == 404


def test_other_methods_and_the_page_headers(survey: Path):
    with server_thread(survey) as (client, _):
        assert client.request("PUT", "/api/start", b"{}")[0] == 501
        assert client.request("DELETE", "/answers.jsonl")[0] == 501
        conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        conn.close()
        assert "default-src 'none'" in response.getheader("Content-Security-Policy")
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert client.request("GET", "/favicon.ico")[0] == 204
        assert client.request("GET", "/", headers={"Host": f"localhost:{client.port}"})[0] == 200


def test_the_respondent_cap(survey: Path):
    with server_thread(survey, max_respondents=2) as (client, _):
        client.start(), client.start()
        status, reply = client.post("/api/start", {})
        assert status == 503 and "all the respondents" in reply["error"]


def test_many_simultaneous_respondents(tmp_path: Path):
    survey = make_survey(tmp_path, n=22)
    key = labels(survey)
    workers, sent, replies, errors = 40, {}, {}, []
    barrier = threading.Barrier(workers)

    def respondent(worker: int) -> None:
        try:
            rng = random.Random(worker)
            client = Client(server.host, server.port)
            barrier.wait()
            view = client.start()
            rid, order = view["respondent"], view["order"]
            answers = [rng.choice(["real", "fake"]) for _ in order]
            for i, (image, answer) in enumerate(zip(order, answers)):
                if i == 5:  # a double click: the same answer twice at the same moment, exactly one stored
                    results: list[int] = []
                    twins = [threading.Thread(target=lambda: results.append(client.answer(rid, image, answer)[0]))
                             for _ in range(2)]
                    for t in twins:
                        t.start()
                    for t in twins:
                        t.join()
                    assert sorted(results) == [200, 409], results
                    status, view = client.request("GET", f"/api/respondent/{rid}")
                else:
                    status, view = client.answer(rid, image, answer)
                assert status == 200 and view["answered"] == i + 1, view
            sent[rid] = (order, answers)
            replies[rid] = view["score"]
        except BaseException as err:  # reported by the main thread
            errors.append(repr(err))

    with ServerProcess(survey) as server:
        threads = [threading.Thread(target=respondent, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        code, _, err = server.stop()
    assert errors == [] and code == 0
    assert "Traceback" not in err

    lines = log_lines(survey)
    assert all(line.endswith(b"\n") for line in lines)
    records = [json.loads(line) for line in lines]  # every line whole: no interleaved half-records
    assert len(records) == workers * 23
    respondents, problems = store.replay(records, key)
    assert problems == [] and len(respondents) == workers
    for rid, (order, answers) in sent.items():
        assert respondents[rid].order == order and respondents[rid].answers == answers
        assert replies[rid] == sum(a == key[i] for i, a in zip(order, answers))

    result = run_survey_cli(["score", str(survey), "--bootstrap", "200"])
    assert result.returncode == 0, result.stderr
    summary = json.loads((survey / "report" / "summary.json").read_text())
    wrong = sum(a != key[i] for order, answers in sent.values() for i, a in zip(order, answers))
    assert summary["error_rate"]["k"] == wrong and summary["error_rate"]["n"] == workers * 22
    assert sorted(summary["scores"]["values"]) == sorted(replies.values())


def test_one_server_per_survey_and_clear_start_errors(survey: Path):
    with ServerProcess(survey) as first:
        second = run_survey_cli(["serve", str(survey), "--port", "0"])
        assert second.returncode == 2 and "in use by another 'survey.py serve'" in second.stderr
        taken = run_survey_cli(["serve", str(make_survey(survey.parent, name="other")), "--port", str(first.port)])
        assert taken.returncode == 2 and f"--port {first.port} is in use" in taken.stderr
        first.stop()
    broken = make_survey(survey.parent, name="broken")
    next((broken / "images").iterdir()).unlink()
    for argv, message in [(["serve", str(survey.parent / "nowhere")], "is not a folder"),
                          (["serve", str(broken)], "rebuild the survey"),
                          (["serve", str(survey / "images")], "is not a survey folder"),
                          (["serve", str(survey), "--port", "70000"], "--port"),
                          (["serve", str(survey), "--host", "203.0.113.9", "--port", "0"], "cannot listen there")]:
        result = run_survey_cli(argv)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_tampered_log_is_replayed_by_the_servers_rules(survey: Path, capsys):
    images = json.loads((survey / "survey.json").read_text())["images"]
    a, b = "a" * 32, "b" * 32
    records = [
        {"event": "start", "respondent": a, "order": images, "t": 1},
        {"event": "answer", "respondent": a, "index": 0, "image": images[0], "answer": "real", "ms": 5, "t": 2},
        {"event": "answer", "respondent": a, "index": 0, "image": images[0], "answer": "fake", "ms": 5, "t": 3},
        {"event": "answer", "respondent": a, "index": 2, "image": images[2], "answer": "fake", "ms": 5, "t": 3},
        {"event": "answer", "respondent": b, "index": 0, "image": images[0], "answer": "fake", "ms": 5, "t": 3},
        {"event": "start", "respondent": a, "order": images, "t": 4},
        {"event": "start", "respondent": b, "order": images[:-1], "t": 4},
        {"event": "answer", "respondent": a, "index": 1, "image": images[1], "answer": "yes", "ms": 5, "t": 5},
        {"event": "wipe", "respondent": a},
    ]
    (survey / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with server_thread(survey) as (client, state):
        assert list(state.respondents) == [a] and state.respondents[a].answers == ["real"]
        assert capsys.readouterr().err.count("ignored") == 7
        status, _ = client.answer(a, images[1], "fake")
        assert status == 200


def test_sigterm_stops_cleanly(survey: Path):
    with ServerProcess(survey) as server:
        view = server.client.start()
        server.client.answer(view["respondent"], view["order"][0], "real")
        code, out, _ = server.stop()
    assert code == 0 and "1 respondents and 1 answers" in out
    wait_for(lambda: len(log_lines(survey)) == 2, what="the log")
