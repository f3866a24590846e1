"""survey.py build: a balanced random set under opaque names, nothing but the pictures to tell real from fake."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from conftest import write_images
from scripts import survey as survey_cli
from survey_support import labels, make_survey
from util.errors import run_cli
from util.survey import build

OPAQUE = re.compile(r"^[0-9a-f]{16}\.png$")


def run(argv: list[str]) -> int:
    return run_cli(survey_cli.main, argv, "survey.py")


def sources_of(folder: Path) -> set[str]:
    key = json.loads((folder / "key.json").read_text())
    return {entry["source"] for entry in key["images"].values()}


def test_build_is_balanced_opaque_and_uniform(tmp_path: Path):
    real, fake = tmp_path / "real", tmp_path / "fake"
    write_images(real, 12, size=(80, 64), seed=1, prefix="realface", ext=".jpg")  # like MaskedFace-Net: JPEG
    fake.mkdir()
    rng = np.random.default_rng(2)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "test.py fake_B")  # metadata a respondent's browser could show
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # PIL would copy this along
    for i in range(10):
        pixels = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(fake / f"genface{i:03d}_fake_B.png", pnginfo=info, icc_profile=icc)
    assert run(["build", "--real", str(real), "--fake", str(fake), "--n", "8", "--out", str(tmp_path / "s"),
                "--size", "32", "--seed", "5"]) == 0
    out = tmp_path / "s"

    files = sorted(p.name for p in (out / "images").iterdir())
    assert len(files) == 8 and all(OPAQUE.match(f) for f in files)
    key = json.loads((out / "key.json").read_text())
    assert sorted(v["label"] for v in key["images"].values()) == ["fake"] * 4 + ["real"] * 4
    survey = json.loads((out / "survey.json").read_text())
    assert survey["images"] == sorted(f[:-4] for f in files) == sorted(key["images"])
    assert key["seed"] == 5

    for image_id, entry in key["images"].items():
        source = Path(entry["source"])
        assert source.parent == (real if entry["label"] == "real" else fake)
        assert entry["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        with Image.open(out / "images" / f"{image_id}.png") as copy:
            assert copy.format == "PNG" and copy.size == (32, 32) and copy.mode == "RGB"
            assert copy.info == {}, copy.info
            got = np.asarray(copy, dtype=np.int16)
        with Image.open(source) as original:  # centre square crop, then a Lanczos resize, done here by hand
            w, h = original.size
            side = min(w, h)
            box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
            expected = np.asarray(original.convert("RGB").crop(box).resize((32, 32), Image.LANCZOS), dtype=np.int16)
        assert np.abs(got - expected).max() <= 1

    public = (out / "survey.json").read_text() + (out / "index.html").read_text()
    for word in ("realface", "genface", "fake_B", str(real), str(fake), '"label"', '"source"'):
        assert word not in public  # no source name, folder or label reaches what respondents can see


def test_the_seed_decides_the_set(tmp_path: Path):
    real, fake = tmp_path / "real", tmp_path / "fake"
    write_images(real, 30, seed=1, prefix="r")
    write_images(fake, 30, seed=2, prefix="f")
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        build.build_survey(build.Source("--real", (str(real),), None), build.Source("--fake", (str(fake),), None),
                           10, tmp_path / name, seed=seed, size=16)
    assert sources_of(tmp_path / "a") == sources_of(tmp_path / "b")
    assert sources_of(tmp_path / "a") != sources_of(tmp_path / "c")
    # the names are drawn afresh each time: they carry nothing of the seed or the choice
    assert set(labels(tmp_path / "a")).isdisjoint(labels(tmp_path / "b"))


def test_a_face_is_never_on_both_sides(tmp_path: Path):
    """A paired test set: testB/00007.png is the real masked face of test.py's 00007_fake_B.png."""
    real, results = tmp_path / "testB", tmp_path / "images"
    write_images(real, 12, seed=1, prefix="00")
    for i in range(12):
        write_images(results, 1, seed=10 + i, prefix=f"00{i:03d}_fake_B_")
        (results / f"00{i:03d}_fake_B_000.png").rename(results / f"00{i:03d}_fake_B.png")
        write_images(results, 1, seed=50 + i, prefix=f"00{i:03d}_real_A_")
        (results / f"00{i:03d}_real_A_000.png").rename(results / f"00{i:03d}_real_A.png")

    # test.py's folder holds real_A inputs too: taking it whole would label real photos as fakes
    assert run(["build", "--real", str(real), "--fake", str(results), "--n", "8", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()

    for seed in range(5):
        out = tmp_path / f"s{seed}"
        assert run(["build", "--real", str(real), "--fake", str(results), "--fake_glob", "*_FAKE_b.png", "--n", "8",
                    "--out", str(out), "--seed", str(seed), "--size", "16"]) == 0
        key = json.loads((out / "key.json").read_text())["images"].values()
        fakes = [Path(e["source"]).name for e in key if e["label"] == "fake"]
        reals = [Path(e["source"]).stem for e in key if e["label"] == "real"]
        assert all(name.endswith("_fake_B.png") for name in fakes)
        assert not {name[: -len("_fake_B.png")] for name in fakes} & set(reals)


def results_folder(base: Path, name: str, model: str, direction: str, labels: tuple[str, ...], count: int = 6,
                   seed: int = 0) -> Path:
    """A test.py output, <base>/<name>/test_latest: images/<NNN>_<label>.png and the test_opt.json test.py writes."""
    folder = base / name / "test_latest"
    for k, label in enumerate(labels):
        for path in write_images(folder / "images", count, seed=seed + k, prefix=f"{label}_"):
            path.rename(path.with_name(f"{path.stem.split('_')[-1]}_{label}.png"))
    (folder / "test_opt.json").write_text(json.dumps({"name": name, "model": model, "direction": direction}))
    return folder / "images"


def test_a_pix2pix_runs_fakes_make_a_survey_of_their_kind_of_face(tmp_path: Path, capsys):
    """test.py writes a pix2pix run's fakes as fake_B whatever its direction: an AtoB run's are masked faces,
    as CycleGAN's fake_B are, a BtoA run's unmasked ones. A survey shows one kind: masked reals (a dataroot's
    testB) go with AtoB fakes, unmasked ones (testA) with BtoA fakes; a mix is refused in one line."""
    data = tmp_path / "data"
    write_images(data / "testA", 6, seed=1, prefix="a")
    write_images(data / "testB", 6, seed=2, prefix="b")
    pix2pix = ("real_A", "fake_B", "real_B")
    on = results_folder(tmp_path / "results", "p2p_on", "pix2pix", "AtoB", pix2pix, seed=10)
    off = results_folder(tmp_path / "results", "p2p_off", "pix2pix", "BtoA", pix2pix, seed=20)
    cycle = results_folder(tmp_path / "results", "cyc", "cycle_gan", "AtoB", ("real_A", "fake_B", "rec_A", "real_B",
                                                                              "fake_A", "rec_B"), seed=30)
    runs = iter(range(100))

    def build(real: Path, fake: Path, *extra: str) -> tuple[int, Path]:
        out = tmp_path / "surveys" / str(next(runs))
        code = run(["build", "--real", str(real), "--fake", str(fake), "--n", "6", "--size", "16", "--seed", "0",
                    "--out", str(out), *extra])
        return code, out

    def faces(out: Path) -> tuple[str, set[str]]:
        key = json.loads((out / "key.json").read_text())["images"].values()
        return (json.loads((out / "survey.json").read_text())["faces"],
                {Path(e["source"]).parents[2].name + "/" + Path(e["source"]).name.split("_", 1)[1]
                 for e in key if e["label"] == "fake"})  # run/label of each fake

    fake_b = ("--fake_glob", "*_fake_B.png")
    for real, fake, kind in ((data / "testB", on, "masked"), (data / "testB", cycle, "masked"),
                             (data / "testA", off, "unmasked")):
        code, out = build(real, fake, *fake_b)
        assert code == 0, capsys.readouterr().err
        assert faces(out) == (kind, {f"{fake.parents[1].name}/fake_B.png"})
        assert f"fake images of {kind} faces" in capsys.readouterr().out
    # a run's own targets: an AtoB run's real_B are masked faces, a BtoA run's unmasked ones
    for fake, kind in ((on, "masked"), (off, "unmasked")):
        code, out = build(fake, fake, "--real_glob", "*_real_B.png", *fake_b, "--allow_same_face")
        assert code == 0 and faces(out)[0] == kind, capsys.readouterr().err
    # reals the build cannot place: the survey takes the fakes' kind
    write_images(tmp_path / "photos", 6, seed=3, prefix="p")
    code, out = build(tmp_path / "photos", off, *fake_b)
    assert code == 0 and faces(out)[0] == "unmasked"
    capsys.readouterr()

    refused = [
        ((data / "testB", off, *fake_b), "--fake holds unmasked faces", "fake_B of pix2pix run p2p_off trained BtoA",
         "--real holds masked ones", "a dataroot's testB"),
        ((data / "testA", on, *fake_b), "--fake holds masked faces", "fake_B of pix2pix run p2p_on trained AtoB"),
        ((data / "testA", cycle, *fake_b), "--fake holds masked faces", "fake_B of cycle_gan run cyc"),
        ((off, off, "--real_glob", "*_real_A.png", *fake_b, "--allow_same_face"), "--real holds masked ones",
         "real_A of pix2pix run p2p_off trained BtoA"),
        ((data / "testA", cycle, "--fake_glob", "*_fake_*.png"), "--fake holds masked faces", "and unmasked ones",
         "choose one with --fake_glob"),
        ((data / "testA", off), "--fake holds test.py outputs that are not fake images",
         "--fake_glob '*_fake_B.png' (unmasked faces)"),
        ((data / "testA", cycle), "--fake_glob '*_fake_B.png' (masked faces) or '*_fake_A.png' (unmasked faces)"),
    ]
    for (real, fake, *extra), *phrases in refused:
        code, out = build(real, fake, *extra)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("survey.py: error: "), err
        assert all(phrase in err for phrase in phrases), err
        assert not out.exists()


def test_same_face_exclusion_can_starve_and_be_lifted(tmp_path: Path, capsys):
    real, fake = tmp_path / "real", tmp_path / "fake"
    write_images(real, 3, seed=1)        # 000 001 002
    write_images(fake, 3, seed=2)        # the same three names
    argv = ["build", "--real", str(real), "--fake", str(fake), "--n", "6", "--size", "16"]
    assert run(argv + ["--out", str(tmp_path / "a")]) == 2
    assert "the same face as a chosen fake (--allow_same_face)" in capsys.readouterr().err
    assert run(argv + ["--out", str(tmp_path / "b"), "--allow_same_face"]) == 0


def test_unreadable_images_are_skipped(tmp_path: Path, capsys):
    real, fake = tmp_path / "real", tmp_path / "fake"
    write_images(real, 4, seed=1)
    write_images(fake, 4, seed=2, prefix="f")
    (real / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (real / "000.png").write_bytes(b"")
    out = tmp_path / "s"
    assert run(["build", "--real", str(real), "--fake", str(fake), "--n", "6", "--out", str(out), "--size", "16",
                "--seed", "0"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: skipping cannot read image") == 2
    assert sorted(labels(out).values()) == ["fake"] * 3 + ["real"] * 3
    assert {Path(s).name for s in sources_of(out)}.isdisjoint({"broken.png", "000.png"})


def test_jpeg_format(tmp_path: Path):
    out = make_survey(tmp_path, n=4, fmt="jpg")
    names = [p.name for p in (out / "images").iterdir()]
    assert len(names) == 4 and all(re.match(r"^[0-9a-f]{16}\.jpg$", n) for n in names)
    with Image.open(next((out / "images").iterdir())) as img:
        assert img.format == "JPEG" and img.size == (32, 32)


@pytest.mark.parametrize("case, message", [
    ("missing_real", "--real"),
    ("empty_fake", "--fake: no images"),
    ("odd_n", "--n 7"),
    ("too_few", "--n 40 needs 20"),
    ("existing_out", "already exists and is not empty"),
    ("out_is_file", "is a file"),
    ("overlap", "is under both --real and --fake"),
    ("tiny_size", "--size"),
    ("bad_format", "--format"),
    ("no_glob_match", "matching '*_fake_A.png'"),
])
def test_bad_build_is_one_line_and_touches_nothing(tmp_path: Path, capsys, case: str, message: str):
    real, fake = tmp_path / "real", tmp_path / "fake"
    write_images(real, 10, seed=1, prefix="r")
    write_images(fake, 10, seed=2, prefix="f")
    out = tmp_path / "out"
    argv = {"real": str(real), "fake": str(fake), "n": "8", "out": str(out)}
    extra: list[str] = []
    if case == "missing_real":
        argv["real"] = str(tmp_path / "nowhere")
    elif case == "empty_fake":
        (tmp_path / "empty").mkdir()
        argv["fake"] = str(tmp_path / "empty")
    elif case == "odd_n":
        argv["n"] = "7"
    elif case == "too_few":
        argv["n"] = "40"
    elif case == "existing_out":
        out.mkdir()
        (out / "answers.jsonl").write_text('{"event": "start"}\n')
    elif case == "out_is_file":
        out.write_text("a result")
    elif case == "overlap":
        argv["fake"] = str(tmp_path)  # holds real/ too
    elif case == "tiny_size":
        extra = ["--size", "3"]
    elif case == "bad_format":
        extra = ["--format", "gif"]
    elif case == "no_glob_match":
        extra = ["--fake_glob", "*_fake_A.png"]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code = run(["build"] + [x for k, v in argv.items() for x in (f"--{k}", v)] + extra)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("survey.py: error:") and message in err
    assert "Traceback" not in err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing changed, no temporary folder left
    assert not any(p.name.startswith(".out.building") for p in tmp_path.iterdir())


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch, capsys):
    real, fake = tmp_path / "real", tmp_path / "fake"
    write_images(real, 6, seed=1, prefix="r")
    write_images(fake, 6, seed=2, prefix="f")
    saved = []

    def failing_save(self, fp, *args, **kwargs):
        if len(saved) == 3:
            raise OSError(28, "No space left on device")
        saved.append(fp)
        return original_save(self, fp, *args, **kwargs)

    original_save = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", failing_save)
    assert run(["build", "--real", str(real), "--fake", str(fake), "--n", "6", "--out", str(tmp_path / "s")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake", "real"]
