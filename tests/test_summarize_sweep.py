"""scripts/summarize_sweep.py: a real toy sweep (two tiny runs trained, translated and evaluated) in one
table, best first, as markdown, CSV and a bar chart; the same table from the run folders; the reason
shown for each run without metrics; one-line errors."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import test as test_script
import train as train_script
from scripts import evaluate
from scripts import summarize_sweep as summary
from tests.conftest import ROOT, write_images
from util.errors import run_cli
from util.metrics import inception

TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--display_id", "0", "--num_threads", "0", "--gpu_ids", "-1", "--n_epochs", "1", "--n_epochs_decay", "0",
        "--print_freq", "1", "--no_html", "--seed", "3"]
NORMS = ("instance", "batch")


def train_and_evaluate(root: Path, ckpt: Path, results: Path, weights: Path, cache: Path, name: str, norm: str):
    """train.py, test.py --model cycle_gan and evaluate.py, as scripts/sweep.py runs them."""
    assert train_script.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", name,
                              "--norm", norm, *TINY]) == 0
    assert test_script.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", name,
                             "--results_dir", str(results), "--model", "cycle_gan", "--num_threads", "0",
                             "--gpu_ids", "-1"]) == 0
    assert evaluate.main(["--results_dir", str(results / name / "test_latest"), "--dataroot", str(root),
                          "--inception_weights", str(weights), "--cache_dir", str(cache), "--dims", "64",
                          "--num_workers", "0", "--kid_subsets", "5", "--device", "cpu"]) == 0


@pytest.fixture(scope="module")
def toy_sweep(tmp_path_factory):
    """Runs toy_instance and toy_batch, trained, tested and evaluated; a sweep.json that also lists a
    failed run, toy_none, which left nothing behind."""
    base = tmp_path_factory.mktemp("toy_sweep")
    root, ckpt, results = base / "data", base / "checkpoints", base / "results"
    for folder, count, seed in (("trainA", 6, 1), ("trainB", 5, 2), ("testA", 3, 3), ("testB", 3, 4)):
        write_images(root / folder, count, seed=seed)
    weights = inception.make_random_weights(base / "random_inception.pth", seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is as fast, and steady on a busy machine
    try:
        for norm in NORMS:
            train_and_evaluate(root, ckpt, results, weights, base / "cache", f"toy_{norm}", norm)
    finally:
        torch.set_num_threads(threads)

    sweep_dir = base / "sweeps" / "toy"
    sweep_dir.mkdir(parents=True)
    runs = [{"name": f"toy_{n}", "settings": {"norm": n}, "status": "done"} for n in NORMS]
    runs.append({"name": "toy_none", "settings": {"norm": "none"}, "status": "failed"})
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "base": "toy", "checkpoints_dir": str(ckpt), "results_dir": str(results),
        "axes": {"norm": ["instance", "batch", "none"]}, "runs": runs}))
    metrics = {f"toy_{n}": json.loads((results / f"toy_{n}" / "test_latest" / "metrics.json").read_text())
               for n in NORMS}
    return SimpleNamespace(ckpt=ckpt, results=results, sweep_dir=sweep_dir, metrics=metrics)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def markdown_rows(text: str) -> list[list[str]]:
    """The table's cells, header row first, separator row left out."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    return [rows[0], *rows[2:]]


def expected_order(metrics: dict[str, dict], key: str) -> list[str]:
    """Run names by ``key``, computed from metrics.json without the script's code."""
    def value(m: dict) -> float:
        ab, ba = m["directions"]["AB"], m["directions"]["BA"]
        return {"FID_mean": (ab["fid"] + ba["fid"]) / 2, "FID_AB": ab["fid"], "KID_BA": ba["kid_mean"],
                "SSIM_AB": -ab["paired"]["fake"]["ssim"]}[key]  # SSIM: higher is better
    return sorted(metrics, key=lambda name: value(metrics[name]))


@pytest.mark.slow
def test_sweep_table_is_best_first_in_markdown_csv_and_chart(toy_sweep, capsys):
    assert summary.main([str(toy_sweep.sweep_dir)]) == 0
    printed = capsys.readouterr().out
    order = expected_order(toy_sweep.metrics, "FID_mean") + ["toy_none"]

    header, rows = read_csv(toy_sweep.sweep_dir / "summary.csv")
    assert header[:9] == ["run", "norm", "FID_AB", "FID_BA", "FID_mean", "KID_AB", "KID_AB_std", "KID_BA",
                          "KID_BA_std"]
    assert {"PSNR_AB", "SSIM_AB", "PSNR_BA", "SSIM_BA", "epochs", "images_per_s", "note"} <= set(header)
    assert [r["run"] for r in rows] == order
    for row in rows[:2]:
        m = toy_sweep.metrics[row["run"]]["directions"]
        assert row["norm"] == row["run"].split("_")[1]
        assert float(row["FID_AB"]) == m["AB"]["fid"] and float(row["FID_BA"]) == m["BA"]["fid"]
        assert float(row["FID_mean"]) == pytest.approx((m["AB"]["fid"] + m["BA"]["fid"]) / 2, rel=1e-15)
        assert float(row["KID_AB"]) == m["AB"]["kid_mean"] and float(row["KID_BA_std"]) == m["BA"]["kid_std"]
        assert float(row["SSIM_AB"]) == m["AB"]["paired"]["fake"]["ssim"]
        assert row["epochs"] == "1" and float(row["images_per_s"]) > 0 and row["note"] == ""
    failed = rows[2]
    assert failed["norm"] == "none" and failed["FID_AB"] == failed["FID_mean"] == ""
    assert failed["note"] == "no metrics: failed"

    md = (toy_sweep.sweep_dir / "summary.md").read_text()
    assert md in printed
    cells = markdown_rows(md)
    head, body = cells[0], cells[1:]
    assert head[:2] == ["run", "norm"] and [r[0] for r in body] == order
    fid_ab = head.index("FID_AB")
    for row in body[:2]:
        assert row[1] == row[0].split("_")[1]
        assert row[fid_ab] == f"{toy_sweep.metrics[row[0]]['directions']['AB']['fid']:.2f}"
    assert body[2][fid_ab] == "-" and body[2][-1] == "no metrics: failed"  # no number: -, not n/a

    png = toy_sweep.sweep_dir / "fid.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        assert im.size == (summary.FIG_WIDTH_PX, summary.FIG_BASE_PX + summary.FIG_ROW_PX * 3) == (1000, 320)
    rows, _ = summary.summary_rows(str(toy_sweep.sweep_dir))
    fig = summary.fid_figure(rows, "FID_mean")
    bars = fig.axes[0].patches
    assert len(bars) == 2 * len(toy_sweep.metrics)  # FID_AB and FID_BA of each evaluated run, none for toy_none
    fids = [toy_sweep.metrics[n]["directions"][d]["fid"] for d in ("AB", "BA") for n in order[:2]]
    assert [b.get_width() for b in bars] == pytest.approx(fids)
    assert [b.get_y() + b.get_height() / 2 for b in bars] == pytest.approx([-0.2, 0.8, 0.2, 1.2])
    bottom, top = fig.axes[0].get_ylim()
    assert bottom > top  # y grows downwards: row 0, the best, at the top
    assert tuple(fig.get_size_inches() * fig.dpi) == pytest.approx((1000, 320))


@pytest.mark.slow
@pytest.mark.parametrize("key", ["FID_AB", "KID_BA", "SSIM_AB"])
def test_sort_by_another_column(toy_sweep, tmp_path, key):
    assert summary.main([str(toy_sweep.sweep_dir), "--sort", key, "--out_dir", str(tmp_path)]) == 0
    _, rows = read_csv(tmp_path / "summary.csv")
    assert [r["run"] for r in rows] == expected_order(toy_sweep.metrics, key) + ["toy_none"]
    assert (tmp_path / "summary.md").read_text().startswith(f"Sorted by {key}, ")


@pytest.mark.slow
def test_run_folders_give_the_same_table(toy_sweep, tmp_path):
    assert summary.main([str(toy_sweep.sweep_dir), "--out_dir", str(tmp_path / "from_sweep")]) == 0
    argv = ["--checkpoints_dir", str(toy_sweep.ckpt), "--results_dir", str(toy_sweep.results)]
    assert summary.main(argv) == 0  # default --out_dir: the results folder
    from_sweep = markdown_rows((tmp_path / "from_sweep" / "summary.md").read_text())
    from_folders = markdown_rows((toy_sweep.results / "summary.md").read_text())
    assert from_folders == from_sweep[:-1]  # toy_none has no run folder, so only the sweep lists it
    assert read_csv(toy_sweep.results / "summary.csv")[1] == read_csv(tmp_path / "from_sweep" / "summary.csv")[1][:-1]
    assert (toy_sweep.results / "fid.png").is_file()
    # --names picks runs; with one run no setting varies, so no settings column
    assert summary.main([*argv, "--names", "toy_b*", "--out_dir", str(tmp_path / "one")]) == 0
    header, rows = read_csv(tmp_path / "one" / "summary.csv")
    assert [r["run"] for r in rows] == ["toy_batch"] and header[1] == "FID_AB"


def write_run(ckpt: Path, results: Path, name: str, opt: dict, fids: dict[str, float] | None,
              tested: bool = True, paired: dict | None = None) -> None:
    """A run folder with train_opt.json and, where ``fids`` is given, an evaluate.py metrics.json."""
    (ckpt / name).mkdir(parents=True)
    (ckpt / name / "train_opt.json").write_text(json.dumps({"name": name, **opt}))
    if tested:
        (results / name / "test_latest").mkdir(parents=True)
    if fids is not None:
        directions = {d: {"fid": fid, "kid_mean": fid / 1000, "kid_std": 0.0, "n_fake": 3, "n_real": 3,
                          "paired": paired or {}}
                      for d, fid in fids.items()}
        (results / name / "test_latest" / "metrics.json").write_text(json.dumps({"directions": directions}))


def test_runs_without_metrics_go_last_with_their_reason(tmp_path, monkeypatch):
    ckpt, results = tmp_path / "sweep" / "ckpt", tmp_path / "sweep" / "res"
    write_run(ckpt, results, "r_a", {"seed": 1, "lr": 0.0002, "print_freq": 100, "norm": "batch"},
              {"AB": 10.0, "BA": 20.0}, paired={"pairs": 3, "input": {"psnr": 9.0}, "fake": {
                  "psnr": 20.0, "ssim": 0.5, "psnr_in_mask": 15.0, "ssim_in_mask": 0.4, "psnr_outside": None}})
    write_run(ckpt, results, "r_b", {"seed": 2, "lr": 0.0001, "print_freq": 1, "norm": "batch"},
              {"AB": 5.0, "BA": 30.0})
    write_run(ckpt, results, "r_c", {"seed": 3, "lr": 0.0003, "norm": "batch"}, {"AB": 1.0})  # no FID_BA
    write_run(ckpt, results, "r_d", {"seed": 4, "lr": 0.0004, "norm": "batch"}, None)
    write_run(ckpt, results, "r_e", {"seed": 5, "lr": 0.0005, "norm": "batch"}, None, tested=False)

    rows, _ = summary.summary_rows(checkpoints_dir=str(ckpt), results_dir=str(results), sort="FID_mean")
    assert [r.name for r in rows] == ["r_a", "r_b", "r_c", "r_d", "r_e"]  # FID_mean 15 < 17.5; r_c has none
    assert [list(r.settings) for r in rows] == [["lr"]] * 5  # seed, name, print_freq: bookkeeping; norm: same
    assert [r.note for r in rows[2:]] == ["", "no metrics: not evaluated", "no metrics: not tested"]
    by_ab = ["r_c", "r_b", "r_a", "r_d", "r_e"]
    assert [r.name for r in summary.summary_rows(checkpoints_dir=str(ckpt), results_dir=str(results),
                                                 sort="FID_AB")[0]] == by_ab
    # without --sort: r_c has no FID_mean, so the FID every run with metrics has ranks them
    assert summary.default_sort(rows) == "FID_AB"
    assert [r.name for r in summary.summary_rows(checkpoints_dir=str(ckpt), results_dir=str(results))[0]] == by_ab
    assert len(summary.fid_figure(rows, "FID_mean").axes[0].patches) == 5  # one bar per FID value
    # paired metrics of the fakes (not of the inputs), where some run has them; None (infinite PSNR) is n/a
    assert {k: v for k, v in rows[0].values.items() if k.startswith(("PSNR_AB", "SSIM_AB"))} == {
        "PSNR_AB": 20.0, "SSIM_AB": 0.5, "PSNR_AB_in_mask": 15.0, "SSIM_AB_in_mask": 0.4, "PSNR_AB_outside": None}
    head, *body = markdown_rows(summary.markdown(rows, "FID_mean"))
    assert head[head.index("KID_BA x1000") + 1:head.index("epochs")] == [
        "PSNR_AB", "SSIM_AB", "PSNR_AB_in_mask", "SSIM_AB_in_mask", "PSNR_AB_outside",
        "PSNR_BA", "SSIM_BA", "PSNR_BA_in_mask", "SSIM_BA_in_mask", "PSNR_BA_outside"]  # no ssim_outside given
    assert body[0][head.index("SSIM_AB_in_mask")] == "0.400" and body[0][head.index("PSNR_AB_outside")] == "n/a"
    assert body[1][head.index("PSNR_AB")] == "-" and body[2][head.index("FID_BA")] == "-"  # numbers they lack

    # sweep.json in sweeps/<name> below where the sweep ran: its relative folders are found from there;
    # statuses; a run that never started
    sweep_dir = tmp_path / "sweep" / "sweeps" / "r"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "base": "r", "checkpoints_dir": "ckpt", "results_dir": "res", "axes": {"lr": ["0.0002", "0.0001"]},
        "runs": [{"name": "r_x", "settings": {"lr": "0.01"}, "status": "pending"},
                 {"name": "r_y", "settings": {"lr": "0.02"}, "status": "done"},
                 {"name": "r_a", "settings": {"lr": "0.0002"}, "status": "failed"},
                 {"name": "r_b", "settings": {"lr": "0.0001"}, "status": "done"}]}))
    monkeypatch.chdir(tmp_path)
    rows, _ = summary.summary_rows(str(sweep_dir))
    assert [(r.name, r.settings["lr"], r.note) for r in rows] == [
        ("r_a", "0.0002", "sweep status: failed"), ("r_b", "0.0001", ""),
        ("r_x", "0.01", "no metrics: pending"), ("r_y", "0.02", "no metrics: not trained")]


def test_a_sweep_of_cycle_gan_and_pix2pix_runs_is_one_table(tmp_path):
    """sweep.py --grid model=cycle_gan,pix2pix (and pix2pix runs of both directions): evaluate.py scores a
    pix2pix run in its one direction, so its row has only that direction's numbers; the rest are -, and a
    run without the sort column follows the ones with it instead of breaking the order."""
    ckpt, results = tmp_path / "ckpt", tmp_path / "res"
    runs = {"cg_1": ("cycle_gan", "AtoB", {"AB": 30.0, "BA": 10.0}),
            "cg_2": ("cycle_gan", "AtoB", {"AB": 20.0, "BA": 40.0}),
            "on_1": ("pix2pix", "AtoB", {"AB": 25.0}), "on_2": ("pix2pix", "AtoB", {"AB": 15.0}),
            "off_1": ("pix2pix", "BtoA", {"BA": 8.0}), "off_2": ("pix2pix", "BtoA", {"BA": 3.0})}
    for name, (model, direction, fids) in runs.items():
        write_run(ckpt, results, name, {"model": model, "direction": direction}, fids)
    entries = [{"name": n, "settings": {"model": m}, "status": "done"} for n, (m, _, _) in runs.items()]
    entries.append({"name": "failed", "settings": {"model": "pix2pix"}, "status": "failed"})
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "base": "m", "checkpoints_dir": str(ckpt), "results_dir": str(results),
        "axes": {"model": ["cycle_gan", "pix2pix"]}, "runs": entries}))

    def order(*extra: str) -> list[str]:
        out = tmp_path / "out" / "_".join(extra or ("default",)).replace("*", "")
        assert summary.main([str(sweep_dir), "--out_dir", str(out), *extra]) == 0
        return [r["run"] for r in read_csv(out / "summary.csv")[1]]

    # no --sort: FID_AB and FID_BA are had by four runs each, FID_mean by two: FID_AB, the first of equals
    assert order() == ["on_2", "cg_2", "on_1", "cg_1", "off_1", "off_2", "failed"]
    assert order("--sort", "FID_BA") == ["off_2", "off_1", "cg_1", "cg_2", "on_1", "on_2", "failed"]
    assert order("--sort", "FID_mean") == ["cg_1", "cg_2", "on_1", "on_2", "off_1", "off_2", "failed"]
    assert order("--sort", "KID_AB") == order()  # KID follows FID here (write_run: KID = FID / 1000)
    # runs of one pix2pix direction alone: ranked by the FID they have, not left in the sweep's order
    assert order("--names", "off_*") == ["off_2", "off_1"]
    assert order("--names", "on_*") == ["on_2", "on_1"]

    md = (tmp_path / "out" / "default" / "summary.md").read_text()
    assert md.startswith("Sorted by FID_AB, lowest (best) first; runs without FID_AB next")
    cells = markdown_rows(md)
    assert sum(line.startswith("| run |") for line in md.splitlines()) == 1  # one table
    head, body = cells[0], {row[0]: row for row in cells[1:]}
    assert head[:2] == ["run", "model"] and [body[n][1] for n in runs] == [m for m, _, _ in runs.values()]
    col = {c: head.index(c) for c in ("FID_AB", "FID_BA", "FID_mean", "KID_AB x1000", "KID_BA x1000")}
    assert [body["off_1"][col[c]] for c in col] == ["-", "8.00", "-", "-", "8.00 ± 0.00"]
    assert [body["on_2"][col[c]] for c in col] == ["15.00", "-", "-", "15.00 ± 0.00", "-"]
    assert [body["cg_1"][col[c]] for c in col] == ["30.00", "10.00", "20.00", "30.00 ± 0.00", "10.00 ± 0.00"]
    assert body["failed"][col["FID_AB"]] == "-" and body["failed"][-1] == "no metrics: failed"
    header, rows = read_csv(tmp_path / "out" / "default" / "summary.csv")
    off_1 = next(r for r in rows if r["run"] == "off_1")
    assert (off_1["model"], off_1["FID_AB"], off_1["FID_BA"], off_1["FID_mean"]) == ("pix2pix", "", "8.0", "")
    rows, _ = summary.summary_rows(str(sweep_dir))
    assert len(summary.fid_figure(rows, "FID_AB").axes[0].patches) == 8  # one bar per FID a run has


def one_line_error(argv: list[str], capsys) -> str:
    code = run_cli(summary.main, argv, "summarize_sweep.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert "SWEEP_DIR" in one_line_error([str(tmp_path / "missing")], capsys)
    assert "sweep.json does not exist" in one_line_error([str(tmp_path)], capsys)
    (tmp_path / "sweep.json").write_text("{not json")
    assert "cannot read" in one_line_error([str(tmp_path)], capsys)
    (tmp_path / "sweep.json").write_text(json.dumps({"checkpoints_dir": "c", "results_dir": "r", "axes": {},
                                                     "runs": [{"name": "a", "settings": {}, "status": "done"}]}))
    assert "lists no runs matching --names b*" in one_line_error([str(tmp_path), "--names", "b*"], capsys)
    assert "--sort" in one_line_error([str(tmp_path), "--sort", "FID"], capsys)
    assert "SWEEP_DIR" in one_line_error([], capsys)
    assert "--results_dir is missing" in one_line_error(["--checkpoints_dir", str(tmp_path)], capsys)
    (tmp_path / "ckpt" / "no_options").mkdir(parents=True)
    assert "no runs found" in one_line_error(["--checkpoints_dir", str(tmp_path / "ckpt"), "--results_dir",
                                              str(tmp_path / "res")], capsys)
    assert not list(tmp_path.rglob("summary.*"))
    # as a script: the same line, no traceback
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "summarize_sweep.py"), str(tmp_path / "missing")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.startswith("summarize_sweep.py: error: SWEEP_DIR")
    assert len(done.stderr.strip().splitlines()) == 1
