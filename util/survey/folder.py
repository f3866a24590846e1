"""A built survey folder: reading survey.json and the answer key, checked to belong together.

Kept apart from build.py so that serving and scoring import neither PIL nor the data package (and torch).
"""
from __future__ import annotations

import json
from pathlib import Path

from util.errors import UserError

FORMATS = {"png": "PNG", "jpg": "JPEG"}  # --format -> PIL's name
SURVEY_VERSION = 1


def load_survey(folder: str | Path, with_key: bool = False) -> tuple[dict, dict | None]:
    """survey.json (and key.json) of a built survey, checked to belong together."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; pass the folder 'survey.py build --out' wrote")
    try:
        survey = json.loads((folder / "survey.json").read_text(encoding="utf-8"))
        key = json.loads((folder / "key.json").read_text(encoding="utf-8")) if with_key else None
    except FileNotFoundError as err:
        raise UserError(f"{folder} is not a survey folder (no {Path(err.filename).name}); "
                        "make one with 'survey.py build'") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{folder}: survey.json or key.json is not valid JSON ({err}); rebuild the survey") from err
    ok = isinstance(survey, dict) and isinstance(survey.get("images"), list) and survey.get("format") in FORMATS
    if ok and key is not None:
        labels = key.get("images") if isinstance(key, dict) else None
        ok = (isinstance(labels, dict) and key.get("survey_id") == survey.get("survey_id")
              and set(labels) == set(survey["images"])
              and all(isinstance(v, dict) and v.get("label") in ("real", "fake") for v in labels.values()))
    if not ok:
        raise UserError(f"{folder}: survey.json and key.json do not describe the same survey; rebuild it")
    return survey, key

