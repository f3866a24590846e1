"""evaluate.py's identity distances on a paired results folder built by hand from real faces
(scikit-image's astronaut, matplotlib's Grace Hopper), checked against dlib called directly; faces
dlib cannot find are counted and left out of the means; one-line errors."""
from __future__ import annotations


import cv2
import numpy as np
import pytest
from PIL import Image

from identity_support import GREY, PAIRS, faces, write_results
from util.errors import run_cli
from util.faces import dlib_models

pytest.importorskip("dlib")


def dlib_descriptor(image: np.ndarray) -> np.ndarray | None:
    """dlib called directly, as util/metrics/identity.py documents it: the crop enlarged to 256 px
    (bicubic), dlib's HOG detector on it; where HOG finds nothing, the CNN on the enlarged crop shrunk
    to 160 px (area), its box scaled back; the 68 landmarks and the descriptor on the enlarged crop."""
    dlib = dlib_models.dlib()
    big = cv2.resize(image, (256, 256), interpolation=cv2.INTER_CUBIC)
    rects = list(dlib_models.hog_detector().run(big, 0, 0.5)[0])
    if not rects:
        small = cv2.resize(big, (160, 160), interpolation=cv2.INTER_AREA)
        s = 256 / 160
        rects = [dlib.rectangle(round(d.rect.left() * s), round(d.rect.top() * s),
                                round((d.rect.right() + 1) * s) - 1, round((d.rect.bottom() + 1) * s) - 1)
                 for d in dlib_models.cnn_detector()(small, 0) if d.confidence > 0]
    if not rects:
        return None
    assert len(rects) == 1  # one face per crop, so the choice of the main face is not under test here
    shape = dlib_models.shape_predictor()(big, rects[0])
    return np.array(dlib_models.face_descriptor().compute_face_descriptor(big, shape))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("identity"), faces())


def test_identity_distances_match_dlib_and_missing_faces_are_counted_not_averaged(folder):
    from scripts.evaluate import identity_metrics, labelled
    from util.metrics.identity import Describer

    root, results = folder
    images = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in (results / "images").glob("*.png")}
    theirs = {key: dlib_descriptor(image) for key, image in images.items()}
    assert theirs["same_real_B"] is not None  # the CNN finds the masked face HOG misses (next test)
    assert theirs["grey_fake_fake_B"] is None and theirs["grey_true_real_B"] is None

    describe = Describer("hog+cnn")
    for d, fake, true, given in (("AB", "fake_B", "real_B", "real_A"), ("BA", "fake_A", "real_A", "real_B")):
        m = identity_metrics(labelled(results / "images", fake), labelled(results / "images", given),
                             root / f"test{true[-1]}", set(PAIRS), None, describe)
        complete = [n for n in sorted(PAIRS) if all(theirs[f"{n}_{x}"] is not None for x in (fake, true, given))]
        assert m["pairs"] == 4 and m["evaluated"] == len(complete)
        assert m["not_found_names"] == sorted(set(PAIRS) - set(complete))
        assert m["not_found"] == {"pairs": 4 - len(complete),
                                  **{role: sum(theirs[f"{n}_{x}"] is None for n in PAIRS)
                                     for role, x in (("fake", fake), ("true", true), ("input", given))}}
        for key, other in (("fake_vs_true", true), ("fake_vs_input", given)):
            dist = [np.linalg.norm(theirs[f"{n}_{fake}"] - theirs[f"{n}_{other}"]) for n in complete]
            assert m[key]["n"] == len(complete)
            assert m[key]["mean"] == pytest.approx(np.mean(dist), abs=1e-6)
            assert m[key]["median"] == pytest.approx(np.median(dist), abs=1e-6)
            assert m[key]["share_under_threshold"] == pytest.approx(np.mean(np.array(dist) < 0.6))
        if d == "AB":  # G_AB's grey fake and testB's grey "true" face: counted, each in its role
            assert m["not_found"] == {"pairs": 2, "fake": 1, "true": 1, "input": 0}
            same, other = (np.linalg.norm(theirs[f"{n}_fake_B"] - theirs[f"{n}_real_B"]) for n in ("same", "other"))
            assert same < 0.6 < other  # a patch over the mouth keeps the person, Grace Hopper is someone else
            assert m["fake_vs_true"]["share_under_threshold"] == 0.5
        else:  # the grey testB image is BA's input
            assert m["not_found"] == {"pairs": 1, "fake": 0, "true": 0, "input": 1}
            assert m["fake_vs_true"]["share_under_threshold"] == pytest.approx(2 / 3)


def test_hog_alone_misses_the_masked_face_that_hog_plus_cnn_finds(folder):
    from util.metrics.identity import Describer

    _, results = folder
    masked = np.asarray(Image.open(results / "images" / "same_real_B.png"))
    unmasked = np.asarray(Image.open(results / "images" / "same_real_A.png"))
    assert Describer("hog")(masked) is None and Describer("hog+cnn")(masked) is not None
    np.testing.assert_allclose(Describer("hog")(unmasked), Describer("hog+cnn")(unmasked))


def test_the_largest_face_is_described():
    from util.faces.detect import Face
    from util.metrics.identity import main_face

    small, big = Face((10, 10, 50, 50), 2.0, np.zeros((68, 2))), Face((60, 60, 160, 160), 0.6, np.zeros((68, 2)))
    off_centre = Face((0, 0, 100, 100), 0.6, np.zeros((68, 2)))
    assert main_face([small, big, off_centre], 220, 220) is big


def test_identity_without_dlib_or_without_pairs_is_one_line(tmp_path, folder, monkeypatch, capsys):
    from scripts.evaluate import main
    from util.errors import UserError
    from util.metrics import identity

    root, results = folder
    argv = ["--results_dir", str(results), "--dataroot", str(root), "--inception_weights", str(tmp_path / "no.pth")]
    unpaired = tmp_path / "unpaired"
    for side in "AB":
        (unpaired / f"test{side}").mkdir(parents=True)
        Image.fromarray(GREY).save(unpaired / f"test{side}" / f"other_{side}.png")
    assert run_cli(main, argv[:3] + [str(unpaired), "--identity"], "evaluate.py") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--identity needs a paired test set" in err[0]

    def no_dlib():
        raise UserError("dlib is not installed: run scripts/setup_env.sh")

    monkeypatch.setattr(identity.dlib_models, "dlib", no_dlib)
    assert run_cli(main, argv + ["--identity"], "evaluate.py") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--identity: dlib is not installed" in err[0]
