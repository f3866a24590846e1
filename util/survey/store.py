"""The survey's answer log: one JSON record per line, appended and fsync'd before the server replies.

Records (``t`` is the server's clock, seconds since the epoch)::

    {"event": "start",  "respondent": ID, "order": [image ids], "t": ...}
    {"event": "answer", "respondent": ID, "index": i, "image": ID, "answer": "real" | "fake",
     "ms": milliseconds the image was on screen (or null), "t": ...}

Only one server writes a log at a time: :class:`AnswerLog` holds an exclusive ``flock`` on the file
for as long as it is open. Each record is one ``os.write`` on an ``O_APPEND`` descriptor followed by
``os.fsync``, so a crash loses at most the record being written, never one already acknowledged.
Nothing is ever rewritten or removed: a torn last line (power lost mid-write, a full disk) is sealed
with a newline before the next record, so it never merges with it, and readers skip it with a warning.

:func:`replay` turns records into respondents with the rules the server enforces (a start lists
every image once; answers come in the respondent's order, one per image), so a log edited by hand
can never count an answer the server would have refused.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from util.errors import UserError

ANSWERS = ("real", "fake")
RESPONDENT_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_MS = 24 * 3600 * 1000


@dataclass
class Respondent:
    id: str
    order: list[str]
    started: float
    answers: list[str] = field(default_factory=list)
    ms: list[int | None] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.answers) == len(self.order)

    @property
    def current(self) -> str | None:
        """The image this respondent must answer next (None when done)."""
        return None if self.done else self.order[len(self.answers)]

    def judged(self) -> Iterator[tuple[str, str]]:
        """(image, answer) for every image answered so far, in the order they were shown."""
        return zip(self.order, self.answers)

    def correct(self, labels: dict[str, str]) -> int:
        """How many answers match the key: the score the respondent is shown."""
        return sum(answer == labels[image] for image, answer in self.judged())


class AnswerLog:
    """The append-only log of one survey, opened by its (single) server."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        existed = self.path.exists()
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise UserError(f"cannot open the answer log {self.path} for appending ({err.strerror}); "
                            "check the survey folder's permissions") from err
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise UserError(f"{self.path} is in use by another 'survey.py serve'; stop it first "
                            "(one server per survey keeps every respondent's answers in one order)") from None
        if not existed:
            _fsync_folder(self.path.parent)
        self._seal = _ends_mid_line(self.path)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and fsync it; raises ``OSError`` (disk full, I/O error) with the log intact."""
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        if self._seal:
            data = b"\n" + data
        self._seal = True  # until the whole record is down, the file may end mid-line
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)
        self._seal = False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_log(path: str | Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The records of a log, and the numbers of the lines that are not a JSON object (torn or edited)."""
    records, bad = [], []
    path = Path(path)
    if not path.exists():
        return records, bad
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                bad.append(number)
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad.append(number)
    return records, bad


def start_record(respondent: Respondent) -> dict[str, Any]:
    return {"event": "start", "respondent": respondent.id, "order": respondent.order, "t": respondent.started}


def answer_record(respondent: Respondent, answer: str, ms: int | None) -> dict[str, Any]:
    index = len(respondent.answers)
    return {"event": "answer", "respondent": respondent.id, "index": index, "image": respondent.order[index],
            "answer": answer, "ms": ms, "t": time.time()}


def valid_ms(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value <= MAX_MS)


def replay(records: Iterable[dict[str, Any]], images: Iterable[str]) -> tuple[dict[str, Respondent], list[str]]:
    """Respondents rebuilt from log records, and one line per record that breaks the server's rules."""
    images = sorted(images)
    known = set(images)
    respondents: dict[str, Respondent] = {}
    problems: list[str] = []
    for i, rec in enumerate(records, 1):
        rid = rec.get("respondent")
        event = rec.get("event")
        if not isinstance(rid, str) or not RESPONDENT_ID.match(rid):
            problems.append(f"record {i}: no valid respondent id")
        elif event == "start":
            order = rec.get("order")
            if rid in respondents:
                problems.append(f"record {i}: respondent {rid} started twice")
            elif not isinstance(order, list) or len(order) != len(images) or set(order) != known:
                problems.append(f"record {i}: respondent {rid}'s order is not a permutation of the survey's images")
            else:
                t = rec.get("t")
                respondents[rid] = Respondent(rid, list(order), float(t) if isinstance(t, (int, float)) else 0.0)
        elif event == "answer":
            r = respondents.get(rid)
            if r is None:
                problems.append(f"record {i}: answer from respondent {rid}, who never started")
            elif r.done:
                problems.append(f"record {i}: respondent {rid} answered after the last image")
            elif rec.get("index") != len(r.answers) or rec.get("image") != r.current:
                problems.append(f"record {i}: respondent {rid}'s answer is out of order or for another image")
            elif rec.get("answer") not in ANSWERS or not valid_ms(rec.get("ms")):
                problems.append(f"record {i}: respondent {rid}'s answer is not real/fake with a valid time")
            else:
                r.answers.append(rec["answer"])
                r.ms.append(rec.get("ms"))
        else:
            problems.append(f"record {i}: unknown event {event!r}")
    return respondents, problems
