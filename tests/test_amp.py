"""``--amp auto``: bf16 where the device computes it natively (a CUDA GPU with bf16 arithmetic, a CPU
with avx512_bf16 or amx_bf16), otherwise plain fp32; train.py, test.py, mask_photos.py and
benchmark.py run the choice and record both the asked and the chosen value; an explicit ``--amp
bf16`` on a CPU that emulates it runs after one warning line. The CPU's flags are always handed in
(the reader monkeypatched), so nothing here depends on this machine's CPU or on timing."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from conftest import write_images
from models import acceleration
from options.test_options import parse_test_options
from options.train_options import parse_train_options
from support import train, translate

# /proc/cpuinfo as Linux writes it (one block per core), cut down to what decides
AVX2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma\n\n" * 2
AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
AMX = "processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_tile amx_bf16 amx_int8\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16\n"  # no "flags" line: unknown here, so fp32
CPUS = {"avx512_bf16": AVX512_BF16, "amx": AMX, "avx2": AVX2, "empty": "", "arm": ARM, "unreadable": None}
WARNING = "warning: --amp bf16 on this CPU is emulated"


def cpu_with(monkeypatch, cpu: str) -> None:
    """Make this machine's /proc/cpuinfo read as ``CPUS[cpu]`` (None: unreadable, as off Linux)."""
    monkeypatch.setattr(acceleration, "read_cpuinfo", lambda: CPUS[cpu])


def spy_autocast(monkeypatch) -> list[str]:
    """The --amp of every autocast context the run opens."""
    seen, real = [], acceleration.autocast

    def recording(device, amp):
        seen.append(amp)
        return real(device, amp)

    monkeypatch.setattr(acceleration, "autocast", recording)
    return seen


# ------------------------------------------------------------------------------------------------ #
# The decision
# ------------------------------------------------------------------------------------------------ #


@pytest.mark.parametrize("cpu, flags, native", [
    ("avx512_bf16", ["avx512_bf16"], True),
    ("amx", ["amx_bf16"], True),
    ("avx2", [], False),
    ("empty", None, False),
    ("arm", None, False),
])
def test_cpu_decision_from_cpuinfo_text(cpu, flags, native):
    assert acceleration.cpu_bf16_flags(CPUS[cpu]) == flags
    assert acceleration.cpu_bf16_native(CPUS[cpu]) is native


@pytest.mark.parametrize("cpu, chosen", [("avx512_bf16", "bf16"), ("amx", "bf16"), ("avx2", "none"),
                                         ("empty", "none"), ("unreadable", "none")])
def test_auto_on_a_cpu_follows_its_flags(monkeypatch, cpu, chosen):
    cpu_with(monkeypatch, cpu)
    assert acceleration.resolve_amp("auto", torch.device("cpu")) == chosen
    assert acceleration.resolve_amp("auto", "cpu") == chosen


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_explicit_amp_is_kept_whatever_the_device(monkeypatch, amp):
    cpu_with(monkeypatch, "avx2")
    assert acceleration.resolve_amp(amp, "cpu") == amp  # fp16 on a CPU too: it runs as it always did
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert acceleration.resolve_amp(amp, "cuda") == amp


def test_cpuinfo_off_linux_is_unknown(monkeypatch):
    monkeypatch.setattr(acceleration.sys, "platform", "darwin")
    assert acceleration.read_cpuinfo() is None
    assert acceleration.resolve_amp("auto", "cpu") == "none"


@pytest.mark.parametrize("supported, chosen", [(True, "bf16"), (False, "none")])
def test_auto_on_cuda_follows_native_bf16_support(monkeypatch, supported, chosen):
    asked = []

    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return supported

    def no_cpu_flags():
        raise AssertionError("a CUDA device's choice does not read the CPU's flags")

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    monkeypatch.setattr(acceleration, "read_cpuinfo", no_cpu_flags)
    assert acceleration.resolve_amp("auto", torch.device("cuda")) == chosen
    assert asked == [False]  # emulated bf16 (a V100's) does not count


@pytest.mark.parametrize("amp, device, cpu, warned", [
    ("bf16", "cpu", "avx2", True),
    ("bf16", "cpu", "empty", True),
    ("bf16", "cpu", "unreadable", True),
    ("bf16", "cpu", "avx512_bf16", False),
    ("bf16", "cpu", "amx", False),
    ("bf16", "cuda", "avx2", False),
    ("auto", "cpu", "avx2", False),  # auto chose none
    ("fp16", "cpu", "avx2", False),
    ("none", "cpu", "avx2", False),
])
def test_slow_bf16_warning_only_for_bf16_on_a_cpu_without_the_flags(monkeypatch, amp, device, cpu, warned):
    cpu_with(monkeypatch, cpu)
    lines = []
    acceleration.choose_amp(amp, device, lines.append)
    assert len(lines) == int(warned)
    if warned:
        assert "emulated" in lines[0] and "--amp auto or --amp none" in lines[0] and "\n" not in lines[0]


def test_amp_auto_parses_for_train_and_test_and_none_stays_the_default(tmp_path):
    base = ["--dataroot", str(tmp_path)]
    assert parse_train_options(base)[0].amp == "none"
    assert parse_test_options(base)[0].amp == "none"
    assert parse_train_options([*base, "--amp", "auto"])[0].amp == "auto"
    assert parse_test_options([*base, "--amp", "auto"])[0].amp == "auto"


def test_a_model_given_unsettled_auto_settles_it_for_its_device(monkeypatch):
    from models.cycle_gan_model import CycleGANModel
    from support import model_options

    cpu_with(monkeypatch, "avx512_bf16")
    assert CycleGANModel(model_options(amp="auto"), torch.device("cpu")).speed["amp"] == "bf16"
    cpu_with(monkeypatch, "avx2")
    assert CycleGANModel(model_options(amp="auto"), torch.device("cpu")).speed["amp"] == "none"
    # the entry point's choice wins over the flag
    assert CycleGANModel(model_options(amp="auto", amp_resolved="bf16"), torch.device("cpu")).speed["amp"] == "bf16"


def test_mask_photos_settles_auto_for_the_device_gpu_ids_lead_to(monkeypatch, capsys):
    from scripts.mask_photos import build_parser, gan_amp

    args = build_parser().parse_args(["--input", "x", "--output", "y", "--name", "run", "--amp", "auto",
                                      "--gpu_ids", "-1"])
    cpu_with(monkeypatch, "amx")
    assert gan_amp(args) == "bf16"
    cpu_with(monkeypatch, "avx2")
    assert gan_amp(args) == "none"
    assert WARNING not in capsys.readouterr().out
    assert gan_amp(argparse.Namespace(**{**vars(args), "amp": "bf16"})) == "bf16"
    assert capsys.readouterr().out.count(WARNING) == 1


# ------------------------------------------------------------------------------------------------ #
# train.py and test.py on tiny runs
# ------------------------------------------------------------------------------------------------ #


@pytest.mark.slow
def test_train_py_runs_and_records_what_auto_chose_and_resumes_with_a_new_choice(tiny_dataroot, tmp_path,
                                                                                  monkeypatch, capsys):
    ckpt, run = tmp_path / "ckpt", tmp_path / "ckpt" / "run"
    cpu_with(monkeypatch, "avx2")
    seen = spy_autocast(monkeypatch)
    assert train(tiny_dataroot, ckpt, "run", "--amp", "auto", "--n_epochs", "1", "--n_epochs_decay", "0",
                 "--seed", "1") == 0
    assert set(seen) == {"none"}
    opt = json.loads((run / "train_opt.json").read_text())
    assert (opt["amp"], opt["amp_resolved"]) == ("auto", "none")
    text = (run / "train_opt.txt").read_text()
    assert "amp: auto" in text and "amp_resolved: none" in text
    out = capsys.readouterr().out
    assert "--amp auto: none" in out and WARNING not in out

    # Resumed on a machine with bf16: the same command line, re-settled, and recorded anew.
    cpu_with(monkeypatch, "avx512_bf16")
    seen.clear()
    assert train(tiny_dataroot, ckpt, "run", "--amp", "auto", "--n_epochs", "2", "--n_epochs_decay", "0",
                 "--continue_train") == 0
    assert set(seen) == {"bf16"}
    opt = json.loads((run / "train_opt.json").read_text())
    assert (opt["amp"], opt["amp_resolved"]) == ("auto", "bf16")
    state = torch.load(run / "latest_train_state.pth", map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["options"]["amp_resolved"] == "bf16"
    assert WARNING not in capsys.readouterr().out

    # test.py rebuilds the architecture from that train_opt.json; its precision is its own flag's
    assert translate(tiny_dataroot / "testA", ckpt, tmp_path / "res", "--model", "test", "--model_suffix", "_A") == 0
    opt = json.loads((tmp_path / "res" / "run" / "test_latest" / "test_opt.json").read_text())
    assert (opt["amp"], opt["amp_resolved"]) == ("none", "none")


@pytest.mark.slow
def test_train_py_warns_once_for_bf16_on_a_cpu_without_the_flags(tiny_dataroot, tmp_path, monkeypatch, capsys):
    cpu_with(monkeypatch, "avx2")
    seen = spy_autocast(monkeypatch)
    assert train(tiny_dataroot, tmp_path / "ckpt", "run", "--amp", "bf16", "--n_epochs", "1",
                 "--n_epochs_decay", "0") == 0
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count(WARNING) == 1
    assert f"train.py: {WARNING}" in captured.out
    assert set(seen) == {"bf16"}  # still runs what was asked
    opt = json.loads((tmp_path / "ckpt" / "run" / "train_opt.json").read_text())
    assert (opt["amp"], opt["amp_resolved"]) == ("bf16", "bf16")


@pytest.fixture(scope="module")
def classic_run(tmp_path_factory):
    """A tiny run trained with the default --amp none (no train_opt.json field about auto)."""
    root = tmp_path_factory.mktemp("amp")
    write_images(root / "data" / "trainA", 4, seed=1)
    write_images(root / "data" / "trainB", 4, seed=2)
    write_images(root / "faces", 3, size=(32, 32), seed=5)
    assert train(root / "data", root / "ckpt", "run", "--n_epochs", "1", "--n_epochs_decay", "0", "--seed", "2") == 0
    assert "amp_resolved" in json.loads((root / "ckpt" / "run" / "train_opt.json").read_text())
    return root


def translate_faces(root, results, *extra: str) -> int:
    return translate(root / "faces", root / "ckpt", results, "--model", "test", "--model_suffix", "_A", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("cpu, chosen", [("amx", "bf16"), ("avx2", "none")])
def test_test_py_runs_and_records_what_auto_chose(classic_run, tmp_path, monkeypatch, capsys, cpu, chosen):
    cpu_with(monkeypatch, cpu)
    seen = spy_autocast(monkeypatch)
    assert translate_faces(classic_run, tmp_path / "res", "--amp", "auto") == 0
    assert set(seen) == {chosen}
    opt = json.loads((tmp_path / "res" / "run" / "test_latest" / "test_opt.json").read_text())
    assert (opt["amp"], opt["amp_resolved"]) == ("auto", chosen)
    out = capsys.readouterr().out
    assert f"(--amp auto: {chosen})" in out and WARNING not in out


@pytest.mark.slow
@pytest.mark.parametrize("cpu, warned", [("avx2", 1), ("avx512_bf16", 0)])
def test_test_py_warns_once_for_bf16_on_a_cpu_without_the_flags(classic_run, tmp_path, monkeypatch, capsys,
                                                                 cpu, warned):
    cpu_with(monkeypatch, cpu)
    assert translate_faces(classic_run, tmp_path / "res", "--amp", "bf16") == 0
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count(WARNING) == warned
    assert len(list((tmp_path / "res" / "run" / "test_latest" / "images").glob("*_fake.png"))) == 3


# ------------------------------------------------------------------------------------------------ #
# benchmark.py
# ------------------------------------------------------------------------------------------------ #


@pytest.mark.parametrize("cpu, chosen, flags", [("avx512_bf16", "bf16", ["avx512_bf16"]), ("avx2", "none", []),
                                                ("unreadable", "none", None)])
def test_benchmark_json_records_the_asked_and_chosen_amp_and_the_cpu_flags(monkeypatch, capsys, cpu, chosen, flags):
    from scripts.benchmark import main as bench_main

    cpu_with(monkeypatch, cpu)
    seen = spy_autocast(monkeypatch)
    assert bench_main(["--mode", "test", "--crop_size", "16", "--netG", "resnet_6blocks", "--warmup", "1",
                       "--test_images", "2", "--test_batch_size", "2", "--amp", "auto", "--device", "cpu",
                       "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert (result["settings"]["amp"], result["settings"]["amp_resolved"]) == ("auto", chosen)
    assert result["cpu_bf16_flags"] == flags
    assert set(seen) == {"none", chosen}  # the fp32 baseline, then the settings given
    assert WARNING not in captured.out + captured.err
