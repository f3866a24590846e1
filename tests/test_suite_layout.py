"""The test suite's own rule: no test file imports another. Helpers that several files share live in
support modules (``support.py``, ``identity_support.py``, ``survey_support.py``, ``classic_layout.py``),
so importing a helper never runs another file's module-level set-up (a module-level importorskip
would skip the importer too)."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_test_file_imports_another():
    test_modules = {path.stem for path in TESTS.glob("test_*.py")}
    offenders = {path.name: sorted(name for name in imported_modules(path)
                                   if name.removeprefix("tests.") in test_modules)
                 for path in sorted(TESTS.glob("*.py"))}
    assert {name: found for name, found in offenders.items() if found} == {}
