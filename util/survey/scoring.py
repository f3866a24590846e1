"""Scoring a survey: how often fakes pass as real, how often respondents are wrong, how well each one did.

Measures, over the counted answers (those of respondents who finished, plus, with ``include_partial``,
the answers of those who did not):

- fooling rate: fakes judged real / fakes answered;
- error rate: wrong answers / all answers, the number the earlier project reported ("881 of 2200
  wrong, 40.08%"); accuracy is 1 - error rate; also reals judged fake / reals answered;
- each with two 95% intervals: Wilson's score interval, which treats every answer as independent, and
  a percentile bootstrap that resamples whole respondents (``bootstrap`` draws). Answers of one person
  are correlated (some people say "fake" to everything), so the bootstrap interval is the honest one
  once there are a few dozen respondents; Wilson's is the narrower textbook figure;
- scores (correct answers) of the respondents who finished: mean with a t interval over respondents,
  standard deviation, median, range, their histogram, and a two-sided one-sample t test of the mean
  against chance (half the images);
- per image: how often it was judged real, fakes that fool most first.

The log is replayed with the server's own rules (:func:`util.survey.store.replay`), so a record
the server would have refused is never counted; such records and torn lines are reported.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from util import files
from util.errors import UserError
from util.survey.folder import load_survey
from util.survey.store import Respondent, read_log, replay

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal
HIST_SIZE_PX, DPI = (800, 450), 100


@dataclass
class Counts:
    """One respondent's (or a whole survey's) answers, by kind."""
    answers: int = 0
    wrong: int = 0
    fakes: int = 0
    fakes_judged_real: int = 0
    reals: int = 0
    reals_judged_fake: int = 0

    def add(self, label: str, answer: str) -> None:
        self.answers += 1
        self.wrong += answer != label
        if label == "fake":
            self.fakes += 1
            self.fakes_judged_real += answer == "real"
        else:
            self.reals += 1
            self.reals_judged_fake += answer == "fake"


def counts_of(r: Respondent, labels: dict[str, str]) -> Counts:
    c = Counts()
    for image, answer in r.judged():
        c.add(labels[image], answer)
    return c


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion k / n."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_ratio(numerators: np.ndarray, denominators: np.ndarray, draws: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of sum(num) / sum(den) when whole respondents (rows) are resampled."""
    if len(numerators) < 2 or draws < 1:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(numerators), size=(draws, len(numerators)))
    den = denominators[rows].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = numerators[rows].sum(axis=1) / den
    ratios = ratios[den > 0]
    if ratios.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def t_interval(values: list[float], low: float, high: float) -> tuple[float, float]:
    """95% t interval of the mean, clipped to [low, high] (scores cannot leave it)."""
    if len(values) < 2:
        return math.nan, math.nan
    from scipy import stats
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    mean = statistics.fmean(values)
    return max(low, mean - half), min(high, mean + half)


def chance_test(scores: list[int], chance: float) -> float:
    """Two-sided p value of a one-sample t test of the mean score against chance (nan when undefined)."""
    if len(scores) < 2 or statistics.pstdev(scores) == 0:
        return math.nan
    from scipy import stats
    return float(stats.ttest_1samp(scores, chance).pvalue)


def rate(k: int, n: int, numerators: np.ndarray, denominators: np.ndarray, draws: int, seed: int) -> dict[str, Any]:
    return {"k": k, "n": n, "rate": k / n if n else math.nan, "wilson_95": list(wilson_interval(k, n)),
            "bootstrap_95": list(bootstrap_ratio(numerators, denominators, draws, seed))}


def score_survey(folder: str | Path, include_partial: bool = False, bootstrap: int = 10_000,
                 seed: int = 0) -> dict[str, Any]:
    """Every number of the report, as a JSON-ready dict."""
    folder = Path(folder)
    survey, key = load_survey(folder, with_key=True)
    labels = {i: key["images"][i]["label"] for i in survey["images"]}
    log = folder / "answers.jsonl"
    records, bad_lines = read_log(log)
    respondents, problems = replay(records, survey["images"])
    finished = [r for r in respondents.values() if r.done]
    unfinished = [r for r in respondents.values() if not r.done and r.answers]
    counted = finished + (unfinished if include_partial else [])
    if not counted:
        hint = (" (none finished; --include_partial counts unfinished respondents)" if unfinished
                else "; serve it with 'survey.py serve' first")
        raise UserError(f"no answers to score in {log}{hint}")

    per_respondent = [counts_of(r, labels) for r in counted]
    column = {name: np.array([getattr(c, name) for c in per_respondent], dtype=np.float64) for name in vars(Counts())}
    total = Counts(**{name: int(values.sum()) for name, values in column.items()})
    correct = column["answers"] - column["wrong"]

    n = len(survey["images"])
    scores = [r.correct(labels) for r in finished]
    times = [ms for r in counted for ms in r.ms if ms is not None]
    shown, judged_real = Counter(), Counter()
    for r in counted:
        for image, answer in r.judged():
            shown[image] += 1
            judged_real[image] += answer == "real"
    per_image = [{"image": image, "label": labels[image], "shown": shown[image], "judged_real": judged_real[image],
                  "judged_real_rate": judged_real[image] / shown[image] if shown[image] else math.nan,
                  "source": key["images"][image].get("source", "")} for image in survey["images"]]
    per_image.sort(key=lambda row: (row["label"] != "fake", -_or(row["judged_real_rate"], -1.0), row["image"]))

    return {
        "survey_id": survey["survey_id"], "title": survey.get("title", ""), "images": n,
        "real_images": sum(v == "real" for v in labels.values()),
        "fake_images": sum(v == "fake" for v in labels.values()),
        "scored_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "include_partial": include_partial,
        "respondents": {"started": len(respondents), "finished": len(finished), "unfinished": len(unfinished),
                        "without_answers": len(respondents) - len(finished) - len(unfinished), "counted": len(counted)},
        "answers": total.answers,
        "fooling_rate": rate(total.fakes_judged_real, total.fakes, column["fakes_judged_real"], column["fakes"],
                             bootstrap, seed),
        "error_rate": rate(total.wrong, total.answers, column["wrong"], column["answers"], bootstrap, seed),
        "accuracy": rate(total.answers - total.wrong, total.answers, correct, column["answers"], bootstrap, seed),
        "reals_judged_fake": rate(total.reals_judged_fake, total.reals, column["reals_judged_fake"], column["reals"],
                                  bootstrap, seed),
        "scores": {
            "of": n, "respondents": len(scores), "values": sorted(scores),
            "mean": statistics.fmean(scores) if scores else math.nan,
            "mean_t_95": list(t_interval(scores, 0, n)),
            "sd": statistics.stdev(scores) if len(scores) > 1 else math.nan,
            "median": statistics.median(scores) if scores else math.nan,
            "min": min(scores, default=math.nan), "max": max(scores, default=math.nan),
            "histogram": np.bincount(np.array(scores, dtype=np.int64), minlength=n + 1).tolist(),
            "chance": n / 2, "p_vs_chance": chance_test(scores, n / 2),
        },
        "median_ms": statistics.median(times) if times else math.nan,
        "bootstrap_draws": bootstrap, "bootstrap_seed": seed,
        "log": {"path": str(log), "records": len(records), "torn_or_invalid_lines": bad_lines,
                "refused_records": problems},
        "per_image": per_image,
    }


def _or(value: float, fallback: float) -> float:
    return fallback if math.isnan(value) else value


def pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def interval(pair: list[float], as_percent: bool = True) -> str:
    lo, hi = pair
    if math.isnan(lo):
        return "n/a"
    return f"{pct(lo)} to {pct(hi)}" if as_percent else f"{lo:.2f} to {hi:.2f}"


def num(x: float, digits: int = 2) -> str:
    return "n/a" if isinstance(x, float) and math.isnan(x) else f"{x:.{digits}f}"


def markdown_report(s: dict[str, Any]) -> str:
    r, sc = s["respondents"], s["scores"]
    rows = [("fooling rate: fakes judged real", s["fooling_rate"]),
            ("error rate: answers wrong (the earlier project's measure)", s["error_rate"]),
            ("accuracy: answers right", s["accuracy"]),
            ("reals judged fake", s["reals_judged_fake"])]
    partial = ("answers of unfinished respondents counted too" if s["include_partial"]
               else "only respondents who finished are counted (--include_partial adds the others' answers)")
    lines = [
        f"# Survey report: {s['title']}", "",
        f"Survey `{s['survey_id']}`: {s['images']} images ({s['real_images']} real, {s['fake_images']} fake). "
        f"Scored {s['scored_at']} from `{Path(s['log']['path']).name}`.", "",
        f"Respondents: {r['started']} started, {r['finished']} finished, {r['unfinished']} stopped part way, "
        f"{r['without_answers']} gave no answer; {partial}. Answers counted: **{s['answers']}**.", "",
        "| measure | value | answers | 95% CI, Wilson (answers independent) | 95% CI, bootstrap over respondents |",
        "|---|---|---|---|---|",
    ]
    for name, m in rows:
        lines.append(f"| {name} | **{pct(m['rate'])}** | {m['k']} / {m['n']} | {interval(m['wilson_95'])} | "
                     f"{interval(m['bootstrap_95'])} |")
    lines += ["", f"The bootstrap resamples whole respondents {s['bootstrap_draws']} times "
              f"(seed {s['bootstrap_seed']}); "
              "it is wider than Wilson's interval when some respondents lean one way.", ""]
    if sc["respondents"]:
        p = sc["p_vs_chance"]
        lines += [
            f"## Scores ({sc['respondents']} respondents who finished; correct answers of {sc['of']})", "",
            f"Mean **{num(sc['mean'])}** (95% t interval {interval(sc['mean_t_95'], as_percent=False)}), "
            f"SD {num(sc['sd'])}, median {num(float(sc['median']), 1)}, range {sc['min']} to {sc['max']}. "
            f"Chance is {num(sc['chance'], 1)}"
            + ("" if math.isnan(p) else f"; t test against chance: p = {p:.3g}") + ".",
            "", "![score distribution](scores.png)", "",
        ]
    else:
        lines += ["## Scores", "", "No respondent has finished yet.", ""]
    if not math.isnan(s["median_ms"]):
        lines += [f"Median time on a photo: {s['median_ms'] / 1000:.2f} s.", ""]
    lines += ["## Per image (fakes that fooled most first)", "",
              "| image | label | shown | judged real | source |", "|---|---|---|---|---|"]
    for row in s["per_image"]:
        lines.append(f"| `{row['image']}` | {row['label']} | {row['shown']} | {row['judged_real']} "
                     f"({pct(row['judged_real_rate'])}) | `{row['source']}` |")
    log = s["log"]
    if log["torn_or_invalid_lines"] or log["refused_records"]:
        lines += ["", f"Left out of the log: {len(log['torn_or_invalid_lines'])} torn or invalid lines, "
                  f"{len(log['refused_records'])} records that break the server's rules (see summary.json)."]
    return "\n".join(lines) + "\n"


def score_histogram(s: dict[str, Any]):
    """The histogram Figure: one bar per possible score (gid ``score:<k>``), mean and chance lines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    sc = s["scores"]
    fig = Figure(figsize=(HIST_SIZE_PX[0] / DPI, HIST_SIZE_PX[1] / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for k, count in enumerate(sc["histogram"]):
        ax.bar(k, count, width=0.8, color="#2f5fd0", gid=f"score:{k}")
    if sc["respondents"]:
        ax.axvline(sc["mean"], color="#a4161a", linewidth=1.6, label=f"mean {sc['mean']:.2f}")
    ax.axvline(sc["chance"], color="#555555", linestyle="--", linewidth=1.2, label=f"chance {sc['chance']:g}")
    ax.set_xlim(-0.7, sc["of"] + 0.7)
    ax.set_xlabel(f"score (correct answers of {sc['of']})")
    ax.set_ylabel("respondents")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{s['title']}: {sc['respondents']} respondents, fooling rate {pct(s['fooling_rate']['rate'])}")
    ax.legend(loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def per_image_csv(s: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["image", "label", "shown", "judged_real", "judged_real_rate", "source"])
    writer.writeheader()
    writer.writerows(s["per_image"])
    return buffer.getvalue()


def write_report(s: dict[str, Any], out: str | Path) -> list[Path]:
    """report.md, summary.json, per_image.csv and scores.png in ``out``; each written atomically."""
    out = Path(out)
    fig = score_histogram(s)
    outputs = {
        "report.md": lambda f: f.write(markdown_report(s).encode()),
        "summary.json": lambda f: f.write((json.dumps(_json_ready(s), indent=2) + "\n").encode()),
        "per_image.csv": lambda f: f.write(per_image_csv(s).encode()),
        "scores.png": lambda f: fig.savefig(f, format="png", dpi=DPI),
    }
    written = []
    for name, write in outputs.items():
        try:
            files.write_atomically(out / name, write)
        except OSError as err:
            raise UserError(f"cannot write {out / name} ({err.strerror or err}); choose another --out") from err
        written.append(out / name)
    return written


def _json_ready(value: Any) -> Any:
    """NaN (an undefined statistic) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value
