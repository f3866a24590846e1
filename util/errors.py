"""User-facing errors: one clear line and exit code 2, never a traceback.

Anything the user can fix (a missing folder, a wrong flag value, a checkpoint that does not match the
requested architecture, an unreadable image) raises :class:`UserError` with a message that names the
flag or file and says what to do. The entry points wrap their work in :func:`run_cli`, which prints
that message on one line and returns 2. Programming errors keep their traceback.
"""
from __future__ import annotations

import re
import sys
from typing import Callable, Sequence

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input; the message is shown as it is, on one line."""


def one_line(message: str) -> str:
    """Squeeze a message onto one line.

    Errors raised inside DataLoader workers come back wrapped with the worker's traceback; the
    original message is the last line, after the exception's class name.
    """
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    last = lines[-1] if len(lines) > 1 and "Traceback" in str(message) else " ".join(lines)
    names = "|".join(re.escape(name) for name in _user_error_names())
    return re.sub(rf"^(?:[\w.]+\.)?(?:{names}): ", "", last)


def _user_error_names() -> list[str]:
    names, stack = [], [UserError]
    while stack:
        cls = stack.pop()
        names.append(cls.__name__)
        stack.extend(cls.__subclasses__())
    return names


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None, prog: str) -> int:
    """Call ``main(argv)``; turn a :class:`UserError` into one line on stderr and exit code 2."""
    try:
        return main(argv)
    except UserError as err:
        print(f"{prog}: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
