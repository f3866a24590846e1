"""Docs that cannot drift: README.md and docs/*.md checked against the repository.

- Every relative link and image resolves to a file (and a ``#section`` to a heading of that page,
  by GitHub's anchor rule).
- Every command in their code blocks that runs one of the project's scripts (``python train.py``,
  ``python scripts/x.py``, ``python datasets/x.py``, through ``torchrun``, and the shell scripts that
  hand their arguments to one: sweep.sh, train_multinode.sh, render_masked_faces.sh) is parsed by
  that script's own argument parser: its flags exist and its choices are valid. Only the parse runs:
  the script's ``main`` is called with ``argparse.ArgumentParser.parse_args`` wrapped so that it stops
  right after a successful parse, so files the example itself would create (or the user's data) need
  not exist. Shell variables set in the same block (``D=...``, ``for d in AtoB BtoA``) are expanded.
"""
from __future__ import annotations

import argparse
import importlib
import re
import shlex
from pathlib import Path

import pytest

from util.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMG_TAG = re.compile(r"<img[^>]*\ssrc=\"([^\"]+)\"")
FENCE = re.compile(r"^```([\w-]*)\s*$")
# shell scripts that pass their arguments on to a Python script's parser
SHELL_TO_SCRIPT = {"scripts/sweep.sh": "scripts/sweep.py", "scripts/train_multinode.sh": "train.py",
                   "scripts/render_masked_faces.sh": "datasets/render_masked_faces.py"}


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ----------------------------------------------------------------------------------- links


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|_(?=\W)|(?<=\W)_", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text().splitlines():
        if FENCE.match(line.strip()):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            base = slug(line.lstrip("#"))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    text, in_code, found = path.read_text(), False, []
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            in_code = not in_code
        elif not in_code:
            found += LINK.findall(line) + IMG_TAG.findall(line)
    return found


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_image_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page_id(page)}: " + "; ".join(broken)


# ----------------------------------------------------------------------------------- commands


def code_blocks(path: Path) -> list[list[str]]:
    """The shell code blocks of a page (bash, sh, shell, console, or no language), as lines."""
    blocks, current, lang = [], None, ""
    for line in path.read_text().splitlines():
        m = FENCE.match(line.strip())
        if m and current is None:
            current, lang = [], m.group(1)
        elif m:
            if lang in ("", "bash", "sh", "shell", "console"):
                blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def logical_lines(lines: list[str]) -> list[str]:
    """Lines with their backslash continuations joined."""
    out, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            out.append(pending + line)
            pending = ""
    if pending:
        out.append(pending)
    return out


def expand(token: str, env: dict[str, str]) -> str:
    def value(m):
        return env.get(m.group(1) or m.group(2), m.group(0))
    return re.sub(r"\$\{(\w+)[^}]*\}|\$(\w+)", value, token)


def commands(path: Path) -> list[tuple[str, str, list[str]]]:
    """(the line as written, the script it runs, its arguments) for every project command."""
    found = []
    for block in code_blocks(path):
        env: dict[str, str] = {}
        for line in logical_lines(block):
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # an unbalanced quote: not a command line
                continue
            for part in split_commands(words):
                loop = re.match(r"^for (\w+) in (.+)$", " ".join(part))
                if loop:
                    env[loop.group(1)] = loop.group(2).split()[0]
                    continue
                if len(part) == 1 and re.match(r"^\w+=", part[0]):
                    name, _, value = part[0].partition("=")
                    env[name] = expand(value, env)
                    continue
                part = [expand(w, env) for w in part]
                # a lone "..." stands for arguments left out; after a flag it is that flag's value
                part = [w for k, w in enumerate(part) if w != "..." or (k and part[k - 1].startswith("--"))]
                hit = project_command(part)
                if hit:
                    found.append((line, *hit))
    return found


def split_commands(words: list[str]) -> list[list[str]]:
    parts, current = [], []
    for w in words:
        if w in (";", "&&", "||", "|", "&", "do", "then", "done"):
            parts.append(current)
            current = []
        elif w.endswith(";") and len(w) > 1:
            current.append(w[:-1])
            parts.append(current)
            current = []
        else:
            current.append(w)
    parts.append(current)
    return [p for p in parts if p]


def project_command(words: list[str]) -> tuple[str, list[str]] | None:
    """The project script these words run and its arguments, or None."""
    while words and re.match(r"^\w+=", words[0]):  # VAR=value before a command
        words = words[1:]
    for i, w in enumerate(words):
        name = w.removeprefix("./")
        if name in SHELL_TO_SCRIPT and (i == 0 or words[i - 1] in ("bash", "sh", "sbatch", "srun")
                                        or words[i - 1].startswith("--")):
            return SHELL_TO_SCRIPT[name], words[i + 1:]
        if name.endswith(".py") and (ROOT / name).is_file() and i > 0:
            runner = Path(words[0]).name
            if runner.startswith("python") or runner in ("torchrun", "$PY", "$PYTHON") or words[0].endswith("python"):
                return name, words[i + 1:]
    return None


class Parsed(Exception):
    """Raised right after a script's parser accepted its command line."""


def parse_only(script: str, argv: list[str], monkeypatch) -> None:
    """Run ``script``'s main(argv) until its parser has parsed argv (UserError/SystemExit on a bad line)."""
    module = importlib.import_module(script.removesuffix(".py").replace("/", "."))
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        raise Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
    try:
        module.main(list(argv))
    except Parsed:
        return
    raise AssertionError(f"{script}'s main returned without parsing its arguments")


ALL_COMMANDS = [(page, *c) for page in PAGES for c in commands(page)]


def test_the_docs_hold_commands_to_check():
    scripts = {script for _, _, script, _ in ALL_COMMANDS}
    assert len(ALL_COMMANDS) >= 40 and {"train.py", "test.py", "scripts/evaluate.py",
                                          "datasets/render_masked_faces.py", "scripts/mask_photos.py"} <= scripts


@pytest.mark.parametrize("page, line, script, argv", ALL_COMMANDS,
                         ids=[f"{page_id(p)}:{s}:{i}" for i, (p, _, s, _) in enumerate(ALL_COMMANDS)])
def test_every_documented_command_parses(page, line, script, argv, monkeypatch, capsys):
    extra = []
    if script == "scripts/sweep.py" and "--" in argv:  # the arguments after -- go to every train.py
        extra = argv[argv.index("--") + 1:]
    try:
        parse_only(script, argv, monkeypatch)
        if extra:
            parse_only("train.py", ["--dataroot", "x", *extra], monkeypatch)
    except (UserError, SystemExit) as err:
        message = str(err) if isinstance(err, UserError) else capsys.readouterr().err.strip()
        pytest.fail(f"{page_id(page)}: `{line}` is refused by {script}'s parser: {message}")


def test_the_checks_catch_a_bad_flag_a_bad_choice_and_a_broken_link(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("See [the guide](missing.md) and [a heading](#nowhere).\n\n# Real heading\n\n```bash\n"
                    "D=datasets/x\nfor d in AtoB BtoA; do\n  python train.py --dataroot $D --direction $d \\\n"
                    "      --no_such_flag 1\ndone\npython test.py --dataroot $D --netG nonet\n```\n")
    found = commands(page)
    assert [(script, argv[:4]) for _, script, argv in found] == [
        ("train.py", ["--dataroot", "datasets/x", "--direction", "AtoB"]),
        ("test.py", ["--dataroot", "datasets/x", "--netG", "nonet"])]
    for _, script, argv in found:
        with pytest.raises(UserError, match="no_such_flag|invalid choice: 'nonet'"):
            parse_only(script, argv, monkeypatch)
    assert links(page) == ["missing.md", "#nowhere"] and "real-heading" in anchors(page)
