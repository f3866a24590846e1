"""FID, KID, PSNR and SSIM against independent computations; fid.py and evaluate.py end to end."""
from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import linalg

from conftest import write_images
from util.errors import run_cli
from util.metrics import identity, inception
from util.metrics.fid import frechet_distance, load_npz, statistics
from util.metrics.kid import kernel_inception_distance
from util.metrics.paired import psnr, ssim


def sqrtm_frechet(mu1, s1, mu2, s2):
    """The textbook formula with scipy's general matrix square root (what pytorch-fid does)."""
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n,d", [(300, 16), (40, 64)])  # full rank, and fewer samples than dimensions
def test_frechet_distance_matches_scipy_sqrtm(n, d):
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, d))
    b = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3 + 0.5
    sa, sb = statistics(a), statistics(b)
    assert np.allclose(sa.sigma, np.cov(a, rowvar=False))
    ours = frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)
    assert ours == pytest.approx(sqrtm_frechet(sa.mu, sa.sigma, sb.mu, sb.sigma), abs=1e-6, rel=1e-9)
    assert frechet_distance(sa.mu, sa.sigma, sa.mu, sa.sigma) == pytest.approx(0.0, abs=1e-5)


def test_frechet_distance_of_gaussians_in_closed_form():
    # Diagonal covariances: FID = |dmu|^2 + sum (sqrt(a) - sqrt(b))^2.
    va, vb = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu_a, mu_b = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + ((np.sqrt(va) - np.sqrt(vb)) ** 2).sum()
    assert frechet_distance(mu_a, np.diag(va), mu_b, np.diag(vb)) == pytest.approx(expected)


def direct_kid(x, y):
    """MMD^2 with explicit loops over pairs (k(x, y) = (x.y/d + 1)^3)."""
    d, m = x.shape[1], len(x)
    k = lambda u, v: (u @ v / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 5)) + 0.7
    mean, std, m = kernel_inception_distance(x, y, n_subsets=3, subset_size=100)
    assert m == 12 and std == pytest.approx(0.0, abs=1e-12)  # every "subset" is the whole set
    assert mean == pytest.approx(direct_kid(x, y), rel=1e-10)
    # Subsets: the mean over the subsets drawn with the same generator.
    mean, std, m = kernel_inception_distance(x, y, n_subsets=4, subset_size=6, seed=3)
    rng = np.random.default_rng(3)
    values = [direct_kid(x[rng.choice(12, 6, replace=False)], y[rng.choice(12, 6, replace=False)]) for _ in range(4)]
    assert (mean, std) == pytest.approx((np.mean(values), np.std(values)), rel=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    same = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), 10, 200)[0]
    apart = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)) + 1, 10, 200)[0]
    assert abs(same) < 0.01 < apart


def test_psnr_and_ssim_match_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(2)
    x = rng.random((40, 48, 3))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    assert psnr(x, y) == pytest.approx(metrics.peak_signal_noise_ratio(x, y, data_range=1.0), rel=1e-10)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2)
    assert ssim(x, y) == pytest.approx(metrics.structural_similarity(x, y, **kw), rel=1e-9)
    # Inside a mask: the mean of scikit-image's SSIM map over the mask, away from the 5-pixel border.
    _, full = metrics.structural_similarity(x, y, full=True, **kw)
    mask = np.zeros((40, 48), bool)
    mask[20:, 10:30] = True
    inner = np.zeros_like(mask)
    inner[5:-5, 5:-5] = mask[5:-5, 5:-5]
    assert ssim(x, y, mask) == pytest.approx(full[inner].mean(), rel=1e-9)
    assert psnr(x, y, mask) == pytest.approx(10 * np.log10(1 / ((x - y)[mask] ** 2).mean()), rel=1e-12)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    return inception.make_random_weights(tmp_path_factory.mktemp("w") / "random_inception.pth", seed=0)


def test_missing_weights_is_one_line_naming_file_url_and_flag(tmp_path, monkeypatch, capsys):
    from scripts.fid import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(inception.torch.hub, "download_url_to_file", no_network)
    write_images(tmp_path / "a", 3)
    code = run_cli(main, [str(tmp_path / "a"), str(tmp_path / "a")], "fid.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert inception.WEIGHTS_NAME in err[0] and inception.WEIGHTS_URL in err[0] and "--inception_weights" in err[0]
    assert run_cli(main, [str(tmp_path / "a"), str(tmp_path / "a"), "--inception_weights", str(tmp_path / "no.pth")],
                   "fid.py") == 2


def test_weights_of_another_network_are_refused(tmp_path, capsys):
    import torch
    from scripts.fid import main

    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    write_images(tmp_path / "a", 3)
    code = run_cli(main, [str(tmp_path / "a"), str(tmp_path / "a"), "--inception_weights", str(tmp_path / "other.pth")],
                   "fid.py")
    assert code == 2 and "is not the pytorch-fid Inception network" in capsys.readouterr().err


@pytest.mark.slow
def test_fid_script_equals_pytorch_fid(tmp_path, random_weights, monkeypatch, capsys):
    """Same images, same (random) weights: our number and pytorch-fid's agree to 1e-3."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    from scripts.fid import main

    a = tmp_path / "a"
    b = tmp_path / "b"
    write_images(a, 12, size=(64, 64), seed=1)
    write_images(b, 12, size=(24, 24), seed=2)  # smoother once resized to 299: another distribution
    hub = tmp_path / "torch_home"
    (hub / "hub" / "checkpoints").mkdir(parents=True)
    (hub / "hub" / "checkpoints" / inception.WEIGHTS_NAME).symlink_to(random_weights)
    monkeypatch.setenv("TORCH_HOME", str(hub))  # pytorch-fid finds the file where it caches downloads
    for dims in (2048, 192):
        expected = fid_score.calculate_fid_given_paths([str(a), str(b)], 50, "cpu", dims, 0)
        assert main([str(a), str(b), "--dims", str(dims), "--num_workers", "0"]) == 0
        last = capsys.readouterr().out.strip().splitlines()[-1]
        assert last.startswith("FID: ")
        assert float(last.split()[1]) == pytest.approx(expected, abs=1e-3)
        assert expected > 1.0  # the sets differ, so the comparison is not between two zeros
    # A set with itself, and through a saved statistics file.
    stats = tmp_path / "a.npz"
    assert main([str(a), str(a), "--save_stats", str(stats), "--dims", "64", "--num_workers", "0"]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1].split()[1]) == pytest.approx(0.0, abs=1e-6)
    assert load_npz(stats).mu.shape == (64,)
    assert main([str(a), str(stats), "--dims", "64", "--num_workers", "0"]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1].split()[1]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_evaluate_writes_fid_kid_and_mask_aware_paired_metrics(tmp_path, random_weights, capsys):
    from scripts.evaluate import main

    root, images = tmp_path / "data", tmp_path / "res" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        unmasked = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        masked = unmasked.copy()
        masked[16:, 8:24] = 230
        mask = np.zeros((32, 32), np.uint8)
        mask[16:, 8:24] = 255
        for folder, arr in (("testA", unmasked), ("testB", masked), ("testmask", mask)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / folder / f"f{i}.png")
        fake_b = unmasked.copy()
        fake_b[16:, 8:24] = 200  # a mask drawn a little too dark, the rest of the face untouched
        for label, arr in (("real_A", unmasked), ("real_B", masked), ("fake_B", fake_b), ("fake_A", masked)):
            Image.fromarray(arr).save(images / f"f{i}_{label}.png")
    argv = ["--results_dir", str(tmp_path / "res"), "--dataroot", str(root), "--inception_weights",
            str(random_weights), "--cache_dir", str(tmp_path / "cache"), "--dims", "64", "--num_workers", "0",
            "--kid_subsets", "5"]
    assert main(argv) == 0
    m = json.loads((tmp_path / "res" / "metrics.json").read_text())
    ab, ba = m["directions"]["AB"], m["directions"]["BA"]
    assert ab["n_fake"] == ab["n_real"] == 6 and ab["fid"] > 0 and "kid_mean" in ab
    assert ab["paired"]["pairs"] == 6
    fake = ab["paired"]["fake"]
    expected_in = 10 * np.log10(1 / ((30 / 255) ** 2))
    assert fake["psnr_in_mask"] == pytest.approx(expected_in, rel=1e-9)
    assert fake["psnr_outside"] is None  # identical outside the mask: infinite PSNR
    assert 0.98 < fake["ssim_outside"] < 1.0  # only windows touching the mask edge differ
    assert ba["paired"]["fake"]["psnr_in_mask"] < fake["psnr_in_mask"]  # fake_A kept the mask
    assert (tmp_path / "res" / "metrics.md").read_text().startswith("| direction | FID |")
    assert "singular" in capsys.readouterr().err  # 6 images < 64 dimensions
    assert ("identity" in ab) == (identity.unavailable() is None)  # on by default where dlib is installed
    if "identity" in ab:  # random pictures hold no face, and every one is counted as such
        for d in (ab, ba):
            assert d["identity"]["pairs"] == 6 and d["identity"]["evaluated"] == 0
            assert d["identity"]["not_found"] == {"pairs": 6, "fake": 6, "true": 6, "input": 6}
            assert d["identity"]["fake_vs_true"]["mean"] is None
    # Real statistics were cached; a second run reuses them.
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    assert main(argv + ["--no_identity"]) == 0
    assert "from the cache" in capsys.readouterr().out
    again = json.loads((tmp_path / "res" / "metrics.json").read_text())["directions"]["AB"]
    assert again["fid"] == pytest.approx(ab["fid"]) and "identity" not in again


@pytest.mark.slow
def test_evaluate_reports_identity_of_real_faces(tmp_path, random_weights, capsys):
    """The paired folder of tests/identity_support.py (whose numbers tests/test_evaluate_identity.py
    checks against dlib called directly) through the command: the identity of each direction in
    metrics.json next to the existing keys, a row per direction in metrics.md and the printed table,
    and summarize_sweep.py still reading the file."""
    pytest.importorskip("dlib")
    from scripts.evaluate import main
    from scripts.summarize_sweep import flat_metrics
    from identity_support import faces, write_results

    root, results = write_results(tmp_path, faces())
    assert main(["--results_dir", str(results), "--dataroot", str(root), "--inception_weights", str(random_weights),
                 "--no_cache", "--dims", "64", "--num_workers", "0", "--kid_subsets", "2"]) == 0
    out = capsys.readouterr().out
    m = json.loads((results / "metrics.json").read_text())
    for d, not_found in (("AB", {"pairs": 2, "fake": 1, "true": 1, "input": 0}),
                         ("BA", {"pairs": 1, "fake": 0, "true": 0, "input": 1})):
        direction = m["directions"][d]
        assert {"fid", "kid_mean", "kid_std", "n_fake", "n_real", "paired"} <= set(direction)
        ident = direction["identity"]
        assert set(ident) == {"detector", "threshold", "pairs", "evaluated", "not_found", "not_found_names",
                              "fake_vs_true", "fake_vs_input"}
        assert (ident["detector"], ident["threshold"], ident["pairs"]) == ("hog+cnn", 0.6, 4)
        assert ident["not_found"] == not_found and ident["evaluated"] == 4 - not_found["pairs"]
        for key in ("fake_vs_true", "fake_vs_input"):
            assert set(ident[key]) == {"n", "mean", "median", "share_under_threshold"}
        row = (f"| {d} | 4 | {not_found['pairs']} ({not_found['fake']} / {not_found['true']} / {not_found['input']})"
               f" | {ident['fake_vs_true']['mean']:.3f} |")
        assert row in out and row in (results / "metrics.md").read_text()
    assert "| direction | pairs | not found: pairs (fake / true / input) | fake vs true mean |" in out
    assert flat_metrics(m)["FID_AB"] == pytest.approx(m["directions"]["AB"]["fid"])


def test_evaluate_without_results_is_one_line(tmp_path, capsys):
    from scripts.evaluate import main

    (tmp_path / "res").mkdir()
    code = run_cli(main, ["--results_dir", str(tmp_path / "res"), "--dataroot", str(tmp_path)], "evaluate.py")
    assert code == 2 and "run test.py" in capsys.readouterr().err
