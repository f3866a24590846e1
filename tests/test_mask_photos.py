"""scripts/mask_photos.py end to end on photos made from a real face (scikit-image's astronaut):
faces found where they were placed, pixels outside the faces' squares untouched, the generator's own
output pasted back, EXIF turns, alpha, a video, pairs, resumption, and every bad input in one line."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import train as train_script
from conftest import write_images
from util.faces.sample_photos import astronaut, compose, mirrored_order, placement
from scripts import mask_photos
from util.errors import run_cli
from util.faces.align import ffhq_quad, quad_mask, quad_side
from util.faces.detect import FaceFinder

pytest.importorskip("dlib")
pytestmark = pytest.mark.slow  # each run detects, describes and translates real faces (seconds)

PLACES = [placement(0.8, 0, False, (160, 200)), placement(1.3, 12, False, (520, 260)),
          placement(1.0, -10, True, (900, 220))]
FPS, FRAMES = 12.0, 6


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A one-epoch run of tiny networks at 32 px on random images: it draws noise, but it is a run."""
    base = tmp_path_factory.mktemp("run")
    write_images(base / "data" / "trainA", 4, size=(36, 36), seed=1)
    write_images(base / "data" / "trainB", 4, size=(36, 36), seed=2)
    argv = ["--dataroot", str(base / "data"), "--checkpoints_dir", str(base / "ckpt"), "--name", "tiny",
            "--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
            "--display_id", "0", "--num_threads", "0", "--gpu_ids", "-1", "--n_epochs", "1", "--n_epochs_decay", "0",
            "--seed", "0"]
    assert train_script.main(argv) == 0
    return base / "ckpt"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos") / "in"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(compose((1100, 520), PLACES)).save(root / "canvas.png")
    upright = Image.fromarray(astronaut()[:400])  # 512 wide, 400 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to show": the file holds the picture turned back
    upright.transpose(Image.Transpose.ROTATE_90).save(root / "turned.jpg", quality=95, exif=exif.tobytes())
    Image.fromarray(compose((300, 200), [])).save(root / "noface.png")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(root / "dot.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "sub" / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 then nothing a player could use")
    alpha = np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (512, 1))
    Image.fromarray(np.dstack([astronaut(), alpha]), "RGBA").save(root / "sub" / "clear.png")
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (512, 512))
    for k in range(FRAMES):
        writer.write(np.ascontiguousarray(np.roll(astronaut(), 6 * k, axis=1)[:, :, ::-1]))
    writer.release()
    (root / "notes.txt").write_text("not a photo")
    return root


def argv(run: Path, inputs, output: Path, *extra: str) -> list[str]:
    inputs = [inputs] if isinstance(inputs, (str, Path)) else inputs
    return ["--name", "tiny", "--checkpoints_dir", str(run), "--input", *map(str, inputs), "--output", str(output),
            "--gpu_ids", "-1", "--num_threads", "0", *extra]


@pytest.fixture(scope="module")
def masked(tiny_run, photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("masked")
    assert mask_photos.main(argv(tiny_run, photos, out / "out", "--save_pairs", str(out / "pairs"))) == 0
    return out


def records(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "faces.jsonl").read_text().splitlines()]


def by_source(output: Path) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for r in records(output):
        grouped.setdefault(Path(r["source"]).name, []).append(r)
    return grouped


@pytest.fixture(scope="module")
def truth_quad() -> np.ndarray:
    return ffhq_quad(FaceFinder().find(astronaut())[0].landmarks)


# ----------------------------------------------------------------------------- what is found and written


def test_every_face_is_found_and_recorded(masked, photos):
    faces = by_source(masked / "out")
    assert {name: len(rs) for name, rs in faces.items()} == {"canvas.png": 3, "turned.jpg": 1, "clear.png": 1,
                                                            "clip.mp4": FRAMES}
    for r in records(masked / "out"):
        assert set(r) >= {"source", "output", "face", "box", "landmarks", "quad", "identity_distance", "status"}
        assert np.array(r["landmarks"]).shape == (68, 2) and np.array(r["quad"]).shape == (4, 2)
        assert r["status"] == "translated" and 0 <= r["identity_distance"] < 2  # --save_pairs measures it
        assert r["method"] == "gan" and all(r[k] is None for k in ("mask_type", "color", "pattern", "wear"))
    assert [r["face"] for r in faces["canvas.png"]] == [0, 1, 2]
    assert sorted(r["frame"] for r in faces["clip.mp4"]) == list(range(FRAMES))
    summary = json.loads((masked / "out" / "summary.json").read_text())
    assert summary["photos"] == 5 and summary["photos_without_faces"] == 2  # noface.png, dot.png
    assert sorted(Path(p).name for p in summary["no_face_photos"]) == ["dot.png", "noface.png"]
    assert summary["videos"] == 1 and summary["frames"] == FRAMES and summary["faces"] == 5 + FRAMES
    assert [Path(s["path"]).name for s in summary["skipped"]] == ["broken.jpg", "bad.mp4"]
    assert summary["this_run"]["photos_per_s"] > 0 and summary["this_run"]["faces_per_s"] > 0


def test_each_photo_is_written_under_its_own_path_and_format(masked, photos):
    out = masked / "out"
    for name, fmt in (("canvas.png", "PNG"), ("turned.jpg", "JPEG"), ("noface.png", "PNG"), ("dot.png", "PNG"),
                      ("sub/clear.png", "PNG")):
        with Image.open(out / name) as img:
            assert img.format == fmt, name
    assert not (out / "broken.jpg").exists() and not (out / "notes.txt").exists()
    assert not (out / "sub" / "bad.mp4").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or ".partial" in p.name]


def test_squares_lie_where_the_faces_were_placed(masked, truth_quad):
    canvas = sorted(by_source(masked / "out")["canvas.png"], key=lambda r: r["face"])
    for record, place in zip(canvas, PLACES):
        expected = place.apply(truth_quad)
        expected = mirrored_order(expected) if place.mirrored else expected
        assert np.abs(np.array(record["quad"]) - expected).max() < 0.06 * quad_side(expected)


def test_exif_turned_photo_comes_out_upright_with_the_square_on_the_face(masked, photos, truth_quad):
    with Image.open(masked / "out" / "turned.jpg") as img:
        assert img.size == (512, 400) and img.getexif().get(0x0112) in (None, 1)
    quad = np.array(by_source(masked / "out")["turned.jpg"][0]["quad"])
    assert np.abs(quad - truth_quad).max() < 0.06 * quad_side(truth_quad)


def test_pixels_outside_the_squares_are_untouched_and_alpha_kept(masked, photos):
    for name in ("canvas.png", "sub/clear.png", "noface.png", "dot.png"):
        before = np.asarray(Image.open(photos / name))
        after = np.asarray(Image.open(masked / "out" / name))
        assert before.shape == after.shape
        inside = np.zeros(before.shape[:2], dtype=bool)
        for r in by_source(masked / "out").get(Path(name).name, []):
            inside |= quad_mask(np.array(r["quad"]), before.shape[1], before.shape[0])
        assert np.array_equal(before[~inside], after[~inside]), name
        if inside.any():
            assert (before[inside] != after[inside]).any(axis=-1).mean() > 0.5, name
    clear_before, clear_after = (np.asarray(Image.open(p / "sub/clear.png")) for p in (photos, masked / "out"))
    assert np.array_equal(clear_before[:, :, 3], clear_after[:, :, 3])


def test_pairs_are_the_generators_own_translation_of_the_aligned_crop(masked, tiny_run):
    """The B crop of each pair is what G_AB, loaded independently, makes of the A crop."""
    from models.networks import define_G

    net = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance", use_dropout=False)
    net.load_state_dict(torch.load(tiny_run / "tiny" / "latest_net_G_A.pth", weights_only=True))
    net.eval()
    pairs = masked / "pairs"
    with open(pairs / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 + FRAMES
    assert {r["direction"] for r in rows} == {"on"} and {r["run"] for r in rows} == {"tiny"}
    for row in rows[:3]:
        a = np.array(Image.open(pairs / "A" / f"{row['name']}.png"))
        b = np.asarray(Image.open(pairs / "B" / f"{row['name']}.png"))
        assert a.shape == b.shape == (32, 32, 3)
        with torch.no_grad():
            fake = net(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1)
        expected = ((fake[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        assert np.abs(expected.astype(int) - b.astype(int)).max() <= 1
        assert float(row["identity_distance"]) >= 0


def test_video_keeps_its_frame_count_rate_and_size(masked):
    capture = cv2.VideoCapture(str(masked / "out" / "clip.mp4"))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (512, 512)
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == FRAMES


def test_worker_processes_give_the_same_results(masked, tiny_run, photos, tmp_path):
    out = tmp_path / "out"
    assert mask_photos.main([*argv(tiny_run, photos, out), "--num_threads", "2", "--identity"]) == 0
    strip = [{k: v for k, v in r.items() if k != "output"} for r in records(masked / "out")]
    assert [{k: v for k, v in r.items() if k != "output"} for r in records(out)] == strip
    for name in ("canvas.png", "sub/clear.png"):
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(masked / "out" / name)))


# ----------------------------------------------------------------------------- choices


def test_max_identity_distance_keeps_the_original_faces(tiny_run, photos, tmp_path):
    out = tmp_path / "out"
    assert mask_photos.main(argv(tiny_run, photos / "canvas.png", out, "--max_identity_distance", "0")) == 0
    assert {r["status"] for r in records(out)} == {"kept_original"}
    assert (out / "canvas.png").read_bytes() == (photos / "canvas.png").read_bytes()


def test_photos_without_a_changed_face_are_copied_byte_for_byte(masked, photos):
    for name in ("noface.png", "dot.png"):
        assert (masked / "out" / name).read_bytes() == (photos / name).read_bytes()


def test_identity_is_not_measured_unless_asked(tiny_run, photos, tmp_path):
    out = tmp_path / "out"
    assert mask_photos.main(argv(tiny_run, photos / "canvas.png", out)) == 0
    assert [(r["status"], r["identity_distance"]) for r in records(out)] == [("translated", None)] * 3


def test_amp_auto_runs_what_the_cpu_computes_natively(masked, tiny_run, photos, tmp_path, monkeypatch):
    """--amp auto on a CPU without bf16 instructions is the plain fp32 run, pixel for pixel; with them it
    runs bf16. The output folder records the precision used. (The CPU's flags are handed in.)"""
    from models import acceleration

    for flags, chosen in (("fpu avx2", "none"), ("fpu avx2 avx512_bf16", "bf16")):
        monkeypatch.setattr(acceleration, "read_cpuinfo", lambda flags=flags: f"processor\t: 0\nflags\t\t: {flags}\n")
        out = tmp_path / chosen
        assert mask_photos.main(argv(tiny_run, photos / "canvas.png", out, "--amp", "auto")) == 0
        assert json.loads((out / mask_photos.STATE / "run.json").read_text())["amp"] == chosen
        assert [r["status"] for r in records(out)] == ["translated"] * 3
    assert np.array_equal(np.asarray(Image.open(tmp_path / "none" / "canvas.png")),
                          np.asarray(Image.open(masked / "out" / "canvas.png")))


def test_faces_too_small_are_left_alone(tiny_run, photos, tmp_path):
    out = tmp_path / "out"
    assert mask_photos.main(argv(tiny_run, photos / "canvas.png", out, "--min_face_size", "10000")) == 0
    assert [r["status"] for r in records(out)] == ["too_small"] * 3
    assert all(r["identity_distance"] is None for r in records(out))


# ----------------------------------------------------------------------------- resumption


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_run_with_the_same_arguments_writes_nothing(masked, tiny_run, photos, capsys):
    before = snapshot(masked)
    assert mask_photos.main(argv(tiny_run, photos, masked / "out", "--save_pairs", str(masked / "pairs"))) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert snapshot(masked) == before


def test_an_interrupted_run_completes_only_what_is_missing(masked, tiny_run, photos, tmp_path, monkeypatch):
    from util.faces import photos as pipeline

    out, pairs = tmp_path / "out", tmp_path / "pairs"
    real_add, calls = pipeline.Journal.add, []

    def add_then_die(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:  # killed while recording the third input (its photo is written already)
            raise KeyboardInterrupt
        return real_add(self, *a, **k)

    monkeypatch.setattr(pipeline.Journal, "add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        mask_photos.main(argv(tiny_run, photos, out, "--save_pairs", str(pairs)))
    monkeypatch.setattr(pipeline.Journal, "add", real_add)
    first = snapshot(out)
    done_first = (out / ".mask_photos" / "done.jsonl").read_text().splitlines()
    assert len(done_first) == 2

    assert mask_photos.main(argv(tiny_run, photos, out, "--save_pairs", str(pairs))) == 0
    written = [json.loads(line).get("output") for line in done_first]
    assert written[0] is None and Path(written[1]).name == "canvas.png"  # broken.jpg is skipped, first
    for source in written[1:]:
        rel = str(Path(source).relative_to(out))
        assert snapshot(out)[rel] == first[rel], f"{rel} was written again"
    strip = lambda rs: sorted(json.dumps({k: v for k, v in r.items() if k != "output"}) for r in rs)  # noqa: E731
    assert strip(records(out)) == strip(records(masked / "out"))
    assert len(list(csv.reader(open(pairs / "pairs.csv")))) == 1 + 5 + FRAMES
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or ".partial" in p.name]


# ----------------------------------------------------------------------------- bad input


def other_output(masked: Path, tmp: Path) -> Path:
    out = tmp / "earlier"
    shutil.copytree(masked / "out", out)
    return out


BAD = [
    ("missing-run", lambda r, p, m, t: [*argv(r, p, t / "o"), "--name", "nope"], "nope"),
    ("missing-epoch", lambda r, p, m, t: [*argv(r, p, t / "o"), "--epoch", "7"], "7_net_G_A.pth"),
    ("input-missing", lambda r, p, m, t: argv(r, t / "none", t / "o"), "--input"),
    ("input-without-photos", lambda r, p, m, t: argv(r, p / "notes.txt", t / "o"), "--input"),
    ("input-folder-without-photos", lambda r, p, m, t: argv(r, t / "empty", t / "o"), "no photos"),
    ("output-inside-input", lambda r, p, m, t: argv(r, p, p / "results"), "--output"),
    ("output-is-input", lambda r, p, m, t: argv(r, p, p), "--output"),
    ("output-of-other-arguments", lambda r, p, m, t: [*argv(r, p, other_output(m, t)), "--feather", "0.3"],
     "--overwrite"),
    ("unknown-detector", lambda r, p, m, t: [*argv(r, p, t / "o"), "--detector", "sift"], "--detector"),
    ("negative-feather", lambda r, p, m, t: [*argv(r, p, t / "o"), "--feather", "-1"], "--feather"),
]


@pytest.mark.parametrize("make, expect", [pytest.param(m, e, id=i) for i, m, e in BAD])
def test_bad_input_is_one_line_and_exit_2_and_touches_nothing(make, expect, masked, tiny_run, photos, tmp_path,
                                                              capsys):
    (tmp_path / "empty").mkdir()
    args = make(tiny_run, photos, masked, tmp_path)
    watched = [photos, masked, tiny_run, tmp_path]
    before = [snapshot(folder) for folder in watched]
    capsys.readouterr()
    code = run_cli(mask_photos.main, args, "mask_photos.py")
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("mask_photos.py: error: ") and expect in err, err
    assert [snapshot(folder) for folder in watched] == before


# ----------------------------------------------------------------------------- a pix2pix run


@pytest.fixture(scope="module")
def pix2pix_runs(tmp_path_factory) -> Path:
    """A one-epoch pix2pix run "p2p" trained AtoB (one generator, net_G) at 32 px on random AB images, and
    "p2p_off", a copy whose train_opt.json says BtoA."""
    from support import write_ab

    base = tmp_path_factory.mktemp("p2p")
    write_ab(base / "data" / "train", 4, seed=1)
    argv = ["--dataroot", str(base / "data"), "--checkpoints_dir", str(base / "ckpt"), "--name", "p2p", "--model",
            "pix2pix", "--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG",
            "resnet_6blocks", "--norm", "instance", "--no_dropout", "--display_id", "0", "--num_threads", "0",
            "--gpu_ids", "-1", "--n_epochs", "1", "--n_epochs_decay", "0", "--seed", "0"]
    assert train_script.main(argv) == 0
    shutil.copytree(base / "ckpt" / "p2p", base / "ckpt" / "p2p_off")
    options = base / "ckpt" / "p2p_off" / "train_opt.json"
    options.write_text(json.dumps(dict(json.loads(options.read_text()), direction="BtoA")))
    return base / "ckpt"


@pytest.mark.parametrize("name, direction", [("p2p", "on"), ("p2p_off", "off")])
def test_a_pix2pix_run_translates_faces_with_its_one_generator(pix2pix_runs, photos, tmp_path, name, direction):
    """--direction on takes a run trained AtoB, off one trained BtoA: each face's translated crop in the pairs
    (B for on, A for off) is what the run's net_G, loaded independently, makes of the other."""
    from models.networks import define_G

    out, pairs = tmp_path / "out", tmp_path / "pairs"
    assert mask_photos.main([*argv(pix2pix_runs, photos / "canvas.png", out, "--save_pairs", str(pairs)),
                             "--name", name, "--direction", direction]) == 0
    plan = json.loads((out / mask_photos.STATE / "run.json").read_text())
    assert Path(plan["weights"]) == (pix2pix_runs / name / "latest_net_G.pth").resolve()
    assert [r["status"] for r in records(out)] == ["translated"] * 3
    net = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance", use_dropout=False)
    net.load_state_dict(torch.load(pix2pix_runs / name / "latest_net_G.pth", weights_only=True))
    net.eval()
    with open(pairs / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["run"], r["direction"]) for r in rows] == [(name, direction)] * 3
    given, made = ("A", "B") if direction == "on" else ("B", "A")
    for row in rows:
        before = np.array(Image.open(pairs / given / f"{row['name']}.png"))
        after = np.asarray(Image.open(pairs / made / f"{row['name']}.png"))
        with torch.no_grad():
            fake = net(torch.from_numpy(before).permute(2, 0, 1)[None].float() / 127.5 - 1)
        expected = ((fake[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        assert np.abs(expected.astype(int) - after.astype(int)).max() <= 1


@pytest.mark.parametrize("name, direction, trained", [("p2p", "off", "AtoB"), ("p2p_off", "on", "BtoA")])
def test_a_pix2pix_run_is_refused_the_other_direction(pix2pix_runs, photos, tmp_path, capsys, name, direction,
                                                      trained):
    before = snapshot(pix2pix_runs)
    code = run_cli(mask_photos.main, [*argv(pix2pix_runs, photos / "canvas.png", tmp_path / "out"), "--name", name,
                                      "--direction", direction], "mask_photos.py")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"mask_photos.py: error: --direction {direction}: run {name} is a pix2pix run trained "
                          f"{trained}"), err
    assert not (tmp_path / "out").exists() and snapshot(pix2pix_runs) == before  # no photo written


# ----------------------------------------------------------------------------- docs/photos.md's figure


def test_photo_figure_draws_each_square_in_the_middle_panel(masked, photos, tmp_path):
    from scripts.photo_figure import COLOURS
    from scripts.photo_figure import main as figure_main

    out = tmp_path / "figure.png"
    assert figure_main(["--photo", str(photos / "canvas.png"), "--output", str(masked / "out"), "--out", str(out),
                        "--height", "260"]) == 0
    figure = np.asarray(Image.open(out).convert("RGB"))
    width = round(1100 * 260 / 520)
    assert figure.shape == (260, 3 * width + 16, 3)
    green = np.all(np.abs(figure.astype(int) - COLOURS["translated"]) < 40, axis=2)
    middle, first = green[:, width + 8:2 * width + 8], green[:, :width]
    assert middle.sum() > 50 * first.sum() + 100
    for record in by_source(masked / "out")["canvas.png"]:  # each square's top-left corner is drawn
        x, y = (np.array(record["quad"][0]) * 260 / 520).round().astype(int)
        window = middle[max(0, y - 3):y + 4, max(0, x - 3):x + 4]
        assert window.any() or not (0 <= x < width and 0 <= y < 260)


def test_photo_figure_without_a_run_is_one_line(photos, tmp_path, capsys):
    from scripts.photo_figure import main as figure_main

    code = run_cli(figure_main, ["--photo", str(photos / "canvas.png"), "--output", str(tmp_path),
                                 "--out", str(tmp_path / "f.png")], "photo_figure.py")
    assert code == 2 and "faces.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()
