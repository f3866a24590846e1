"""Mixed image sizes under a size-keeping ``--preprocess``: found from the file headers before
training starts, whatever the seed, instead of at the first batch that happens to mix them.

The sizes are predicted without pixels (``output_size`` from ``header_size``); both predictions are
checked against what the real transform makes of the decoded image.
"""
from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train as train_script
from conftest import write_images
from data import preprocessed_sizes
from data.image_folder import header_size, load_image
from data.transforms import PREPROCESS_MODES, get_transform, output_size
from models import MODELS
from util.errors import run_cli

TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--display_id", "0", "--num_threads", "0", "--gpu_ids", "-1", "--n_epochs", "1", "--n_epochs_decay", "0"]


def _image(w: int, h: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    return Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode=mode)


# ----------------------------------------------------------------------------- predicted sizes


@pytest.mark.parametrize("mode", PREPROCESS_MODES)
def test_output_size_matches_the_transform_for_many_input_sizes(mode):
    rng = random.Random(7)
    sizes = [(rng.randint(5, 140), rng.randint(5, 140)) for _ in range(40)]
    sizes += [(36, 40), (36, 20), (20, 36), (33, 33), (35, 200), (200, 35), (1, 1), (2, 90)]
    load_size, crop_size = 36, 32
    transform = get_transform(mode, load_size, crop_size, flip=True, train=True)
    for w, h in sizes:
        tensor = transform(_image(w, h), random.Random(w * 1000 + h))
        assert output_size(mode, load_size, crop_size, (w, h)) == (tensor.shape[-1], tensor.shape[-2]), (w, h)


def test_output_size_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="zoom"):
        output_size("zoom", 36, 32, (40, 40))


FORMATS = [("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("WEBP", "RGB"), ("TIFF", "RGB")]


@pytest.mark.parametrize("fmt, mode, orientation", [(*f, o) for f in FORMATS for o in (None, 1, 3, 6, 8)]
                         + [("BMP", "RGB", None)])  # BMP carries no EXIF
def test_header_size_is_the_size_load_image_gives(tmp_path, fmt, mode, orientation):
    path = tmp_path / f"img.{fmt.lower()}"
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    _image(30, 18, mode=mode).save(path, fmt, **kwargs)
    assert header_size(path) == load_image(path).size
    if orientation in (6, 8):  # a quarter turn: the header's own size is the other way round
        assert header_size(path) == (18, 30)


def test_header_size_of_an_unreadable_file_is_none(tmp_path):
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert header_size(tmp_path / "garbage.png") is None
    assert header_size(tmp_path / "empty.jpg") is None
    assert header_size(tmp_path / "missing.png") is None


def test_header_size_does_not_decode_the_pixels(tmp_path):
    """A PNG cut off in its pixel data still has its header: the size comes back, load fails."""
    buffer = io.BytesIO()
    _image(64, 48, seed=3).save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[:200])
    assert header_size(path) == (64, 48)


def test_preprocessed_sizes_groups_files_and_leaves_out_unusable_ones(tmp_path):
    write_images(tmp_path, 3, size=(36, 40), seed=1, prefix="a")
    write_images(tmp_path, 2, size=(37, 41), seed=2, prefix="b")  # rounds to 36x40 as well
    write_images(tmp_path, 2, size=(48, 40), seed=3, prefix="c")
    write_images(tmp_path, 1, size=(12, 12), seed=4, prefix="d")  # too small: replaced in training
    (tmp_path / "e000.png").write_bytes(b"broken")  # unreadable: replaced in training
    paths = sorted(str(p) for p in tmp_path.iterdir())
    groups = preprocessed_sizes(paths, "none", 36, 32, min_side=32)
    assert {size: len(files) for size, files in groups.items()} == {(36, 40): 5, (48, 40): 2}
    assert preprocessed_sizes(paths, "resize_and_crop", 36, 32, min_side=32) == {
        (32, 32): [p for p in paths if not p.endswith("e000.png")]}


@pytest.mark.parametrize("mode,load_size", [("none", 36), ("scale_width", 256)])
def test_unet_size_check_agrees_with_the_network(mode, load_size):
    """check_sizes_fit accepts exactly the sizes a unet_128 runs on after the real transform: decided from
    the sizes alone, checked by putting each decoded image through the transform and the network."""
    import torch

    from data import check_sizes_fit
    from models.networks import define_G
    from util.errors import UserError

    net = define_G("unet_128", 3, 3, ngf=1, norm="none").eval()
    opt = type("Opt", (), {"preprocess": mode, "load_size": load_size, "crop_size": 128, "netG": "unet_128"})
    transform = get_transform(mode, load_size, 128, flip=False, train=False)
    rng = random.Random(5)
    sides = [126, 128, 130, 134, 190, 254, 256, 258, 262, 384]
    sizes = [(rng.choice(sides), rng.choice(sides)) for _ in range(24)] + [(128, 128), (130, 258), (256, 134)]
    verdicts = []
    for w, h in sizes:
        try:
            check_sizes_fit([f"{w}x{h}.png"], [(w, h)], opt, 128)
            accepted = True
        except UserError as err:
            assert str(err).startswith(f"{w}x{h}.png: it is {w}x{h} px") and "--netG unet_128" in str(err)
            accepted = False
        with torch.no_grad():
            try:
                runs = net(transform(_image(w, h)).unsqueeze(0)).shape[-2:] == transform(_image(w, h)).shape[-2:]
            except RuntimeError:  # the skip connections do not line up
                runs = False
        assert accepted == runs, (w, h)
        verdicts.append(accepted)
    assert any(verdicts) and not all(verdicts)


# ----------------------------------------------------------------------------- train.py refuses at start


def _mixed_root(base: Path) -> Path:
    """The bad-invocation table's data: trainA of 36x40 and 48x40 images, trainB of one size."""
    root = base / "data"
    write_images(root / "trainA", 6, seed=1)
    write_images(root / "trainA", 3, size=(48, 40), seed=23, prefix="wide")
    write_images(root / "trainB", 5, seed=2)
    return root


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory) -> Path:
    return _mixed_root(tmp_path_factory.mktemp("mixed"))


@pytest.mark.parametrize("seed", range(12))
def test_mixed_sizes_are_refused_before_anything_is_written_for_every_seed(seed, mixed_root, tmp_path, capsys,
                                                                          monkeypatch):
    built = []
    monkeypatch.setitem(MODELS, "cycle_gan", lambda *a, **k: built.append(1))  # must not be reached
    ckpt = tmp_path / "ckpt"
    argv = ["--dataroot", str(mixed_root), "--checkpoints_dir", str(ckpt), "--name", "run", *TINY,
            "--preprocess", "none", "--batch_size", "2", "--seed", str(seed)]
    capsys.readouterr()
    code = run_cli(train_script.main, argv, "train.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("train.py: error: "), err
    assert "trainA" in err[0] and "--batch_size 2" in err[0] and "36x40" in err[0] and "48x40" in err[0], err[0]
    assert not built, "the model was built: the check came too late"
    assert not ckpt.exists() or not any(ckpt.rglob("*")), sorted(ckpt.rglob("*"))


def test_mixed_sizes_in_domain_b_under_scale_width_are_refused(tmp_path, capsys):
    root = tmp_path / "data"
    write_images(root / "trainA", 4, seed=1)
    write_images(root / "trainB", 3, size=(36, 40), seed=2)
    write_images(root / "trainB", 2, size=(36, 60), seed=3, prefix="tall")  # taller after scaling too
    argv = ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", "run", *TINY,
            "--preprocess", "scale_width", "--batch_size", "2", "--seed", "0"]
    assert run_cli(train_script.main, argv, "train.py") == 2
    err = capsys.readouterr().err
    assert "trainB" in err and "--preprocess scale_width" in err and "36x60" in err, err


@pytest.mark.slow
@pytest.mark.parametrize("case", ["batch_size-1", "cropping-preprocess", "sizes-round-alike"])
def test_runs_that_can_batch_their_images_still_train(case, mixed_root, tmp_path):
    root = mixed_root
    flags = ["--preprocess", "none", "--batch_size", "2"]
    if case == "batch_size-1":
        flags = ["--preprocess", "none", "--batch_size", "1"]
    elif case == "cropping-preprocess":
        flags = ["--preprocess", "resize_and_crop", "--batch_size", "2"]
    else:  # 37x41 rounds to 36x40 like the rest; a broken file and a too-small one are replaced
        root = tmp_path / "data"
        shutil.copytree(mixed_root / "trainB", root / "trainB")
        write_images(root / "trainA", 4, seed=1)
        write_images(root / "trainA", 2, size=(37, 41), seed=5, prefix="odd")
        write_images(root / "trainA", 1, size=(12, 12), seed=6, prefix="tiny")
        (root / "trainA" / "broken.png").write_bytes(b"broken")
    argv = ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", "run", *TINY,
            *flags, "--seed", "0"]
    assert train_script.main(argv) == 0
    assert (tmp_path / "ckpt" / "run" / "latest_net_G_A.pth").is_file()
