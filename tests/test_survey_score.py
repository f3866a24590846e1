"""survey.py score against answers worked out by hand, intervals against independent computations."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from scripts import survey as survey_cli
from survey_support import labels, make_survey
from util.errors import run_cli
from util.survey import scoring

T975_DF4 = 2.7764451051977987  # Student's t, 97.5% quantile, 4 degrees of freedom (tables: 2.776)


def write_log(folder: Path, respondents: list[tuple[str, list[str], list[str]]]) -> None:
    """respondents: (id, order, answers); answers may stop part way."""
    lines = []
    for rid, order, answers in respondents:
        lines.append({"event": "start", "respondent": rid, "order": order, "t": 0})
        for i, answer in enumerate(answers):
            lines.append({"event": "answer", "respondent": rid, "index": i, "image": order[i], "answer": answer,
                          "ms": 1000 * (i + 1), "t": i})
    (folder / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


@pytest.fixture
def worked_example(tmp_path: Path):
    """Four images, r1 r2 real and f1 f2 fake; five respondents finish, one stops after one answer, one never
    answers. Answers are given for the images (r1, r2, f1, f2); each respondent sees them in another order."""
    folder = make_survey(tmp_path, n=4)
    key = labels(folder)
    r1, r2 = sorted(i for i, v in key.items() if v == "real")
    f1, f2 = sorted(i for i, v in key.items() if v == "fake")
    by_image = {  #             r1      r2      f1      f2       correct  fakes judged real  reals judged fake
        "1" * 32: ["real", "fake", "real", "fake"],  # 2        1                  1
        "2" * 32: ["real", "real", "real", "fake"],  # 3        1                  0
        "3" * 32: ["fake", "real", "fake", "fake"],  # 3        0                  1
        "4" * 32: ["real", "real", "fake", "fake"],  # 4        0                  0
        "5" * 32: ["real", "real", "real", "real"],  # 2        2                  0
    }
    orders = [[r1, r2, f1, f2], [f2, f1, r2, r1], [r2, f1, r1, f2], [f1, r1, f2, r2], [r1, f2, r2, f1]]
    respondents = []
    for (rid, answers), order in zip(by_image.items(), orders):
        given = dict(zip([r1, r2, f1, f2], answers))
        respondents.append((rid, order, [given[i] for i in order]))
    respondents.append(("6" * 32, [r1, r2, f1, f2], ["fake"]))  # r1 judged fake, then gone
    respondents.append(("7" * 32, [f1, f2, r1, r2], []))
    write_log(folder, respondents)
    return folder, (r1, r2, f1, f2)


def test_the_worked_example(worked_example):
    folder, (r1, r2, f1, f2) = worked_example
    s = scoring.score_survey(folder, bootstrap=2000)
    assert s["respondents"] == {"started": 7, "finished": 5, "unfinished": 1, "without_answers": 1, "counted": 5}
    assert s["answers"] == 20
    # 20 answers, 14 right: error rate 6/20; fakes judged real 1+1+0+0+2 = 4 of 10; reals judged fake 2 of 10
    assert (s["error_rate"]["k"], s["error_rate"]["n"], s["error_rate"]["rate"]) == (6, 20, 0.30)
    assert (s["accuracy"]["k"], s["accuracy"]["rate"]) == (14, 0.70)
    assert (s["fooling_rate"]["k"], s["fooling_rate"]["n"], s["fooling_rate"]["rate"]) == (4, 10, 0.40)
    assert (s["reals_judged_fake"]["k"], s["reals_judged_fake"]["n"]) == (2, 10)

    sc = s["scores"]
    assert sc["values"] == [2, 2, 3, 3, 4] and sc["histogram"] == [0, 0, 2, 2, 1]
    assert sc["mean"] == pytest.approx(2.8) and sc["median"] == 3 and (sc["min"], sc["max"]) == (2, 4)
    assert sc["sd"] == pytest.approx(math.sqrt(0.7))  # squares 0.64+0.64+0.04+0.04+1.44 = 2.8, over 4
    half = T975_DF4 * math.sqrt(0.7) / math.sqrt(5)  # 1.0389
    assert sc["mean_t_95"] == pytest.approx([2.8 - half, 2.8 + half])
    t = 0.8 / (math.sqrt(0.7) / math.sqrt(5))  # 2.138 against chance 2
    assert sc["p_vs_chance"] == pytest.approx(2 * stats.t.sf(t, 4)) and 0.09 < sc["p_vs_chance"] < 0.11

    assert s["median_ms"] == 2500  # each respondent took 1, 2, 3, 4 s
    rows = {row["image"]: (row["shown"], row["judged_real"]) for row in s["per_image"]}
    assert rows == {r1: (5, 4), r2: (5, 4), f1: (5, 3), f2: (5, 1)}
    assert [row["image"] for row in s["per_image"][:2]] == [f1, f2]  # fakes that fool most first


def test_partial_respondents_count_only_when_asked(worked_example):
    folder, _ = worked_example
    s = scoring.score_survey(folder, include_partial=True, bootstrap=0)
    assert s["respondents"]["counted"] == 6 and s["answers"] == 21
    assert (s["error_rate"]["k"], s["error_rate"]["n"]) == (7, 21)
    assert (s["reals_judged_fake"]["k"], s["reals_judged_fake"]["n"]) == (3, 11)
    assert s["fooling_rate"]["n"] == 10
    assert s["scores"]["values"] == [2, 2, 3, 3, 4]  # a score out of 1 answer is no score
    assert math.isnan(s["error_rate"]["bootstrap_95"][0])  # --bootstrap 0


def test_the_earlier_projects_study(tmp_path: Path):
    """100 respondents, 22 images, 881 wrong answers: error rate 881/2200 = 40.05% and a mean score of
    (2200 - 881)/100 = 13.19. The two always agree (mean score = 22 x (1 - error rate)); the earlier
    project's pair, 40.08% and 13.24, do not."""
    folder = make_survey(tmp_path, n=22)
    key = labels(folder)
    images = sorted(key)
    flip = {"real": "fake", "fake": "real"}
    rng = np.random.default_rng(0)
    wrong_per_respondent = rng.multinomial(881 - 100 * 4, [1 / 100] * 100) + 4  # each 4 or more, 881 in all
    assert wrong_per_respondent.max() <= 22
    respondents = []
    for k, wrong in enumerate(wrong_per_respondent):
        order = list(rng.permutation(images))
        wrong_images = set(rng.choice(order, size=wrong, replace=False))
        respondents.append((f"{k:032x}", order, [flip[key[i]] if i in wrong_images else key[i] for i in order]))
    write_log(folder, respondents)
    s = scoring.score_survey(folder, bootstrap=500)
    assert (s["error_rate"]["k"], s["error_rate"]["n"]) == (881, 2200)
    assert f"{100 * s['error_rate']['rate']:.2f}%" == "40.05%"
    assert s["scores"]["mean"] == pytest.approx(13.19)
    assert s["scores"]["mean"] == pytest.approx(22 * (1 - s["error_rate"]["rate"]))


@pytest.mark.parametrize("k, n", [(0, 10), (4, 10), (10, 10), (881, 2200), (1, 3), (37, 50)])
def test_wilson_interval_against_scipy(k: int, n: int):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert scoring.wilson_interval(k, n) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_the_bootstrap_resamples_respondents():
    ones = np.full(30, 3.0)
    answers = np.full(30, 10.0)
    assert scoring.bootstrap_ratio(ones, answers, 1000, 0) == pytest.approx((0.3, 0.3))  # identical people
    assert all(math.isnan(x) for x in scoring.bootstrap_ratio(ones[:1], answers[:1], 1000, 0))  # one person: none

    rng = np.random.default_rng(1)
    independent = rng.binomial(22, 0.3, size=400).astype(float)
    lo, hi = scoring.bootstrap_ratio(independent, np.full(400, 22.0), 4000, 0)
    wlo, whi = scoring.wilson_interval(int(independent.sum()), 400 * 22)
    assert lo < independent.sum() / 8800 < hi
    assert 0.8 < (hi - lo) / (whi - wlo) < 1.25  # independent answers: both intervals agree

    leaning = np.array([22.0, 0.0] * 200)  # half the respondents say "real" to everything, half "fake"
    lo, hi = scoring.bootstrap_ratio(leaning, np.full(400, 22.0), 4000, 0)
    wlo, whi = scoring.wilson_interval(int(leaning.sum()), 400 * 22)
    assert (hi - lo) > 3 * (whi - wlo)  # correlated answers: the per-answer interval is far too narrow
    assert scoring.bootstrap_ratio(leaning, np.full(400, 22.0), 4000, 7) == \
        scoring.bootstrap_ratio(leaning, np.full(400, 22.0), 4000, 7)


def test_the_report_files(worked_example, capsys):
    folder, _ = worked_example
    assert run_cli(survey_cli.main, ["score", str(folder), "--bootstrap", "500"], "survey.py") == 0
    assert "fooling rate 40.0% (4/10), error rate 30.0% (6/20), mean score 2.80 of 4" in capsys.readouterr().out
    report = (folder / "report" / "report.md").read_text()
    assert "| fooling rate: fakes judged real | **40.0%** | 4 / 10 |" in report
    assert "| error rate: answers wrong (the earlier project's measure) | **30.0%** | 6 / 20 |" in report
    assert "Mean **2.80** (95% t interval 1.76 to 3.84)" in report and "![score distribution](scores.png)" in report
    summary = json.loads((folder / "report" / "summary.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"{c} in summary.json"))
    assert summary["scores"]["histogram"] == [0, 0, 2, 2, 1]
    rows = (folder / "report" / "per_image.csv").read_text().splitlines()
    assert rows[0] == "image,label,shown,judged_real,judged_real_rate,source" and len(rows) == 5

    from PIL import Image
    with Image.open(folder / "report" / "scores.png") as img:
        assert img.size == scoring.HIST_SIZE_PX
    fig = scoring.score_histogram(summary)
    bars = {p.get_gid(): p.get_height() for p in fig.axes[0].patches}
    assert bars == {f"score:{k}": v for k, v in enumerate([0, 0, 2, 2, 1])}


def test_a_torn_or_tampered_log_is_reported_not_counted(worked_example):
    folder, (r1, r2, f1, f2) = worked_example
    with open(folder / "answers.jsonl", "a") as f:
        out_of_order = {"event": "answer", "respondent": "6" * 32, "index": 1, "image": f1, "answer": "real"}
        f.write(json.dumps(out_of_order) + "\n")
        f.write('{"event": "answer", "respondent": "66666')
    s = scoring.score_survey(folder, include_partial=True, bootstrap=0)
    assert s["answers"] == 21  # neither the out-of-order answer nor the torn line
    assert s["log"]["torn_or_invalid_lines"] == [30] and len(s["log"]["refused_records"]) == 1
    assert "1 torn or invalid lines, 1 records that break the server's rules" in scoring.markdown_report(s)


@pytest.mark.parametrize("case, message", [
    ("not a folder", "is not a folder"),
    ("no key", "is not a survey folder (no key.json)"),
    ("other key", "do not describe the same survey"),
    ("no answers", "no answers to score"),
    ("only partial", "--include_partial"),
    ("bad bootstrap", "--bootstrap"),
])
def test_bad_score_invocations(tmp_path: Path, capsys, case: str, message: str):
    folder = make_survey(tmp_path, n=4)
    argv = ["score", str(folder)]
    if case == "not a folder":
        argv = ["score", str(tmp_path / "nowhere")]
    elif case == "no key":
        (folder / "key.json").unlink()
    elif case == "other key":
        other = make_survey(tmp_path, n=4, name="other")
        (folder / "key.json").write_bytes((other / "key.json").read_bytes())
    elif case == "only partial":
        order = json.loads((folder / "survey.json").read_text())["images"]
        write_log(folder, [("a" * 32, order, ["real"])])
    elif case == "bad bootstrap":
        argv += ["--bootstrap", "-1"]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert run_cli(survey_cli.main, argv, "survey.py") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
