"""scripts/plot_losses.py and scripts/epoch_grid.py on the logs and checkpoints of a real tiny run:
picture sizes, one curve per loss, the smoothing and the deduplication of resumed records, grid cells
that equal an independent pass through the epoch's generator (a CycleGAN run's, and a pix2pix run's one
generator in its direction), and one-line errors."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train as train_script
from conftest import write_images
from models.networks import define_G
from scripts import epoch_grid
from scripts.plot_losses import main as plot_main
from scripts.plot_losses import make_figure
from util.errors import run_cli

pytestmark = pytest.mark.slow

TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--display_id", "0", "--num_threads", "0", "--gpu_ids", "-1",
        "--n_epochs", "2", "--n_epochs_decay", "1", "--save_epoch_freq", "1", "--print_freq", "2"]
META = {"epoch", "iters", "total_iters", "time", "data", "lr", "wall"}
BICUBIC = Image.Resampling.BICUBIC


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Networks this small gain nothing from intra-op threads; on a busy machine the threads, waiting
    for each other, made this module several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_torch_thread):
    """A finished 3-epoch run "run" (checkpoints 1, 2, 3, latest) and its data set."""
    base = tmp_path_factory.mktemp("plots")
    root = base / "data"
    write_images(root / "trainA", 6, seed=1)
    write_images(root / "trainB", 5, seed=2)
    write_images(root / "testA", 3, seed=3)
    write_images(root / "testB", 3, seed=4)
    ckpt = base / "ckpt"
    assert train_script.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "run",
                              "--seed", "1", *TINY]) == 0
    return root, ckpt


def jsonl_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def loss_names_in(log: Path) -> list[str]:
    """The losses of a log, read here without the script's parser."""
    if log.suffix == ".jsonl":
        return [k for k in jsonl_records(log)[0] if k not in META]
    first = next(line for line in log.read_text().splitlines() if line.startswith("(epoch"))
    return re.findall(r"(\w+): [-\d.]+(?= |$)", first.split(") ", 1)[1])


def curves(fig, kind: str) -> dict[str, object]:
    """Lines of the figure by loss name, of one kind ("smoothed" or "raw")."""
    found = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            gid = str(line.get_gid())
            if gid.startswith(kind + ":"):
                found[gid.split(":", 1)[1]] = line
    return found


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and err and "\n" not in err and "Traceback" not in err, err
    return err


# --------------------------------------------------------------------------------------------- #
# plot_losses.py
# --------------------------------------------------------------------------------------------- #

@pytest.mark.parametrize("log_name", ["loss_log.jsonl", "loss_log.txt"])
def test_plot_is_a_png_of_the_requested_size(run, tmp_path, log_name):
    _, ckpt = run
    out = tmp_path / "plots" / "losses.png"  # the folder does not exist yet
    assert plot_main([str(ckpt / "run" / log_name), "--out", str(out), "--width", "641", "--height", "359"]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (641, 359)
    assert not list(out.parent.glob(".*.tmp"))


@pytest.mark.parametrize("log_name", ["loss_log.jsonl", "loss_log.txt"])
def test_plot_draws_one_curve_per_loss(run, tmp_path, log_name):
    _, ckpt = run
    log = ckpt / "run" / log_name
    names = loss_names_in(log)
    assert len(names) >= 8
    fig, _, _ = make_figure([str(log), "--out", str(tmp_path / "x.png")])
    assert sorted(curves(fig, "smoothed")) == sorted(names)
    assert sorted(curves(fig, "raw")) == sorted(names)
    legend = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(names)
    assert len(fig.axes) == 2  # generator losses above, discriminator losses below

    fig, _, _ = make_figure([str(log), "--losses", "G_A", "cycle_B", "--out", str(tmp_path / "x.png")])
    assert sorted(curves(fig, "smoothed")) == ["G_A", "cycle_B"] and len(fig.axes) == 1


def test_run_folder_means_its_jsonl(run, tmp_path):
    _, ckpt = run
    _, history, _ = make_figure([str(ckpt / "run"), "--out", str(tmp_path / "x.png")])
    assert history.source.name == "loss_log.jsonl"


@pytest.mark.parametrize("window", [3, 4])
def test_smoothing_is_a_centred_moving_average(run, tmp_path, window):
    _, ckpt = run
    log = ckpt / "run" / "loss_log.jsonl"
    records = jsonl_records(log)
    fig, _, _ = make_figure([str(log), "--smooth", str(window), "--out", str(tmp_path / "x.png")])
    per_epoch = max(r["iters"] for r in records)
    expected_x = np.array([r["epoch"] - 1 + r["iters"] / per_epoch for r in records])
    before, after = (window - 1) // 2, window // 2
    for name in ("G_A", "D_B", "cycle_A"):
        raw = np.array([r[name] for r in records])
        expected = np.array([raw[max(0, i - before): i + after + 1].mean() for i in range(len(raw))])
        smoothed, drawn_raw = curves(fig, "smoothed")[name], curves(fig, "raw")[name]
        np.testing.assert_allclose(smoothed.get_xdata(), expected_x)
        np.testing.assert_allclose(drawn_raw.get_ydata(), raw)
        np.testing.assert_allclose(smoothed.get_ydata(), expected, rtol=1e-12)
    assert expected_x[-1] == pytest.approx(3.0)


def test_resumed_records_are_deduplicated_last_one_wins(run, tmp_path):
    """A real resume from epoch 1 appends epochs 2 and 3 again; one more appended record of the last
    (epoch, iters) shows that the later record replaces the earlier."""
    root, ckpt = run
    copy = tmp_path / "ckpt"
    shutil.copytree(ckpt / "run", copy / "run")
    assert train_script.main(["--dataroot", str(root), "--checkpoints_dir", str(copy), "--name", "run",
                              "--continue_train", "--epoch", "1", *TINY]) == 0
    jsonl, txt = copy / "run" / "loss_log.jsonl", copy / "run" / "loss_log.txt"
    records = jsonl_records(jsonl)
    assert [r["epoch"] for r in records] == [1] * 3 + [2] * 3 + [3] * 3 + [2] * 3 + [3] * 3
    last = dict(records[-1], G_A=123.0)
    with open(jsonl, "a") as f:
        f.write(json.dumps(last) + "\n")
    last_line = txt.read_text().splitlines()[-1]
    with open(txt, "a") as f:
        f.write(re.sub(r"G_A: [-\d.]+", "G_A: 123.000", last_line) + "\n")

    unique = sorted({(r["epoch"], r["iters"]) for r in records})
    for log in (jsonl, txt):
        fig, history, _ = make_figure([str(log), "--smooth", "1", "--out", str(tmp_path / "x.png")])
        assert history.repeated == 7
        g_a = curves(fig, "raw")["G_A"]
        x = np.asarray(g_a.get_xdata())
        assert len(x) == len(unique) and np.all(np.diff(x) > 0)  # no zigzag
        np.testing.assert_allclose(x, [e - 1 + i / 6 for e, i in unique])
        assert g_a.get_ydata()[-1] == pytest.approx(123.0)
        assert plot_main([str(log), "--out", str(tmp_path / f"{log.suffix[1:]}.png")]) == 0


def test_plot_errors_are_one_line(run, tmp_path, capsys):
    _, ckpt = run
    out = tmp_path / "never.png"
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "headers.txt").write_text("================ Training Loss (Mon) ================\n" * 2)
    (tmp_path / "no_run").mkdir()
    cases = [
        ([str(tmp_path / "missing.jsonl")], "does not exist"),
        ([str(tmp_path / "empty.jsonl")], "is empty"),
        ([str(tmp_path / "headers.txt")], "no loss records"),
        ([str(tmp_path / "no_run")], "no loss_log.jsonl or loss_log.txt"),
        ([str(ckpt / "run"), "--losses", "G_A", "G_C"], "--losses G_C"),
        ([str(ckpt / "run"), "--smooth", "0"], "--smooth"),
    ]
    for argv, phrase in cases:
        err = one_line_error(capsys, run_cli(plot_main, [*argv, "--out", str(out)], "plot_losses.py"))
        assert err.startswith("plot_losses.py: error: ") and phrase in err, err
    assert not out.exists()


# --------------------------------------------------------------------------------------------- #
# epoch_grid.py
# --------------------------------------------------------------------------------------------- #

def input_of(image: Path, half: int | None = None) -> Image.Image:
    """An image as a generator's input: whole, or the left (0) or right (1) half of an AB image."""
    with Image.open(image) as im:
        im = im.convert("RGB")
    if half is None:
        return im
    w = im.width // 2
    return im.crop((half * w, 0, (half + 1) * w, im.height))


def independent_translation(checkpoint: Path, image: Path, tile: int, half: int | None = None) -> np.ndarray:
    """The run's G at test time, built here: resnet_6blocks, ngf 8, instance norm, no dropout; test.py
    tests at the training crop size (32), so the image (or its ``half``) is resized to 32x32 first."""
    g = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance", use_dropout=False)
    g.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    arr = np.asarray(input_of(image, half).resize((32, 32), BICUBIC))
    x = torch.from_numpy(arr.transpose(2, 0, 1).copy()).float() / 127.5 - 1.0
    with torch.no_grad():
        y = g(x[None])[0]
    out = ((y.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.asarray(Image.fromarray(out).resize((tile, tile), BICUBIC), dtype=np.int16)


def cell(grid: np.ndarray, row: int, col: int, tile: int) -> np.ndarray:
    top = epoch_grid.HEADER + row * tile
    return grid[top: top + tile, col * tile: (col + 1) * tile].astype(np.int16)


def test_epoch_grid_cells_are_the_epochs_translations(run, tmp_path):
    root, ckpt = run
    out, tile = tmp_path / "grids" / "epochs.png", 48
    assert epoch_grid.main(["--dataroot", str(root), "--name", "run", "--checkpoints_dir", str(ckpt),
                            "--images", "2", "--tile", str(tile), "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == (epoch_grid.HEADER + 2 * tile, (1 + 3) * tile, 3)  # input + epochs 1, 2, 3

    first = sorted((root / "testA").iterdir())[0]
    with Image.open(first) as im:
        shown_input = np.asarray(im.convert("RGB").resize((32, 32), BICUBIC).resize((tile, tile), BICUBIC))
    assert np.abs(cell(grid, 0, 0, tile) - shown_input).max() <= 1
    for col, epoch in ((1, 1), (2, 2), (3, 3)):
        expected = independent_translation(ckpt / "run" / f"{epoch}_net_G_A.pth", first, tile)
        assert np.abs(cell(grid, 0, col, tile) - expected).max() <= 1, f"epoch {epoch}"
    assert np.abs(cell(grid, 0, 1, tile) - cell(grid, 0, 3, tile)).max() > 1  # the epochs differ
    for col in range(4):  # every column has its label
        assert grid[: epoch_grid.HEADER, col * tile: (col + 1) * tile].min() < 100


def test_epoch_grid_picks_epochs_in_order_with_latest_last(run, tmp_path):
    root, ckpt = run
    out, tile = tmp_path / "g.png", 32
    files = sorted(str(p) for p in (root / "testB").iterdir())[1:2]
    assert epoch_grid.main(["--name", "run", "--checkpoints_dir", str(ckpt), "--direction", "BtoA", "--files",
                            *files, "--epochs", "latest", "3", "1", "--tile", str(tile), "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == (epoch_grid.HEADER + tile, 4 * tile, 3)
    # columns: input, epoch 1, epoch 3, latest; latest is epoch 3's weights
    assert np.array_equal(cell(grid, 0, 2, tile), cell(grid, 0, 3, tile))
    expected = independent_translation(ckpt / "run" / "1_net_G_B.pth", Path(files[0]), tile)
    assert np.abs(cell(grid, 0, 1, tile) - expected).max() <= 1


def test_epoch_grid_uses_the_images_there_are(run, tmp_path):
    root, ckpt = run
    out = tmp_path / "g.png"
    assert epoch_grid.main(["--dataroot", str(root), "--name", "run", "--checkpoints_dir", str(ckpt),
                            "--images", "10", "--epochs", "2", "--tile", "16", "--out", str(out)]) == 0
    assert Image.open(out).size == (2 * 16, epoch_grid.HEADER + 3 * 16)


def test_epoch_grid_errors_are_one_line(run, tmp_path, capsys):
    root, ckpt = run
    only_latest = tmp_path / "ckpt" / "only_latest"
    only_latest.mkdir(parents=True)
    shutil.copy(ckpt / "run" / "latest_net_G_A.pth", only_latest)
    (tmp_path / "no_tests").mkdir()
    out = tmp_path / "never.png"
    base = ["--checkpoints_dir", str(ckpt), "--out", str(out)]
    cases = [
        (["--dataroot", str(root), "--name", "missing", *base], "run folder"),
        (["--dataroot", str(root), "--name", "only_latest", "--checkpoints_dir", str(tmp_path / "ckpt"),
          "--out", str(out)], "no epoch checkpoints"),
        (["--dataroot", str(root), "--name", "run", "--epochs", "9", *base], "--epochs 9"),
        (["--dataroot", str(tmp_path / "no_tests"), "--name", "run", *base], "testA"),
        (["--name", "run", "--files", str(tmp_path / "none.png"), *base], "--files"),
        (["--dataroot", str(root), "--name", "run", "--images", "0", *base], "--images"),
    ]
    for argv, phrase in cases:
        err = one_line_error(capsys, run_cli(epoch_grid.main, argv, "epoch_grid.py"))
        assert err.startswith("epoch_grid.py: error: ") and phrase in err, err
    assert not out.exists()


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory, one_torch_thread):
    """A finished 3-epoch pix2pix run "p2p" trained AtoB (checkpoints 1, 2, 3, latest: net_G and net_D), its
    aligned data set (train/ and test/ AB images, no testA/testB), and "p2p_btoa", a copy whose
    train_opt.json says BtoA (its generator's input is then the right half)."""
    from support import write_ab

    base = tmp_path_factory.mktemp("p2p")
    root = base / "data"
    write_ab(root / "train", 4, seed=1)
    write_ab(root / "test", 3, seed=2)
    ckpt = base / "ckpt"
    assert train_script.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "p2p", "--model",
                              "pix2pix", "--norm", "instance", "--no_dropout", "--seed", "1", *TINY]) == 0
    shutil.copytree(ckpt / "p2p", ckpt / "p2p_btoa")
    options = ckpt / "p2p_btoa" / "train_opt.json"
    options.write_text(json.dumps(dict(json.loads(options.read_text()), direction="BtoA")))
    return root, ckpt


@pytest.mark.parametrize("name, half", [("p2p", 0), ("p2p_btoa", 1)])
def test_epoch_grid_runs_a_pix2pix_runs_generator_in_its_direction(pix2pix_run, tmp_path, name, half):
    """Every epoch's net_G on the input halves of test/'s AB images: the left half for the AtoB run, the
    right half for the BtoA one, without --direction."""
    root, ckpt = pix2pix_run
    out, tile = tmp_path / "epochs.png", 48
    assert epoch_grid.main(["--dataroot", str(root), "--name", name, "--checkpoints_dir", str(ckpt),
                            "--images", "2", "--tile", str(tile), "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == (epoch_grid.HEADER + 2 * tile, (1 + 3) * tile, 3)  # input + epochs 1, 2, 3
    for row, ab in enumerate(sorted((root / "test").iterdir())[:2]):
        shown = np.asarray(input_of(ab, half).resize((32, 32), BICUBIC).resize((tile, tile), BICUBIC), np.int16)
        assert np.abs(cell(grid, row, 0, tile) - shown).max() <= 1
        other = np.asarray(input_of(ab, 1 - half).resize((32, 32), BICUBIC).resize((tile, tile), BICUBIC), np.int16)
        assert np.abs(cell(grid, row, 0, tile) - other).max() > 1  # the halves differ: the right one was taken
        for col in (1, 2, 3):
            expected = independent_translation(ckpt / name / f"{col}_net_G.pth", ab, tile, half)
            assert np.abs(cell(grid, row, col, tile) - expected).max() <= 1, (row, col)
    assert np.abs(cell(grid, 0, 1, tile) - cell(grid, 0, 3, tile)).max() > 1  # the epochs differ


def test_epoch_grid_refuses_the_direction_a_pix2pix_run_was_not_trained_in(pix2pix_run, tmp_path, capsys):
    root, ckpt = pix2pix_run
    out = tmp_path / "never.png"
    for name, asked, trained in (("p2p", "BtoA", "AtoB"), ("p2p_btoa", "AtoB", "BtoA")):
        argv = ["--dataroot", str(root), "--name", name, "--checkpoints_dir", str(ckpt), "--direction", asked,
                "--out", str(out)]
        err = one_line_error(capsys, run_cli(epoch_grid.main, argv, "epoch_grid.py"))
        assert err.startswith(f"epoch_grid.py: error: --direction {asked}: run {name} is a pix2pix run trained "
                              f"{trained}"), err
        assert f"pass --direction {trained}" in err
    assert not out.exists()
    # the direction it was trained in, named, is taken; --files are whole images, each an input
    files = [str(p) for p in write_images(tmp_path / "faces", 2, size=(32, 32), seed=9)]
    assert epoch_grid.main(["--name", "p2p", "--checkpoints_dir", str(ckpt), "--direction", "AtoB", "--files",
                            *files, "--epochs", "2", "--tile", "32", "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    expected = independent_translation(ckpt / "p2p" / "2_net_G.pth", Path(files[1]), 32)
    assert np.abs(cell(grid, 1, 1, 32) - expected).max() <= 1
