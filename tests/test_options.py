"""Tests for the command-line options: classic flags and defaults, choices, suffix, saving and reloading."""
from __future__ import annotations

import json
import math
import sys

import pytest

from options.base_options import (adopt_run_flags, explicit_flags, load_run_options, parse_gpu_ids,
                                  save_options)
from options.test_options import parse_test_options
from options.train_options import parse_train_options
from util.errors import UserError

BASE_DEFAULTS = {
    "dataroot": "x", "name": "experiment_name", "gpu_ids": "0", "checkpoints_dir": "./checkpoints",
    "model": "cycle_gan", "input_nc": 3, "output_nc": 3, "ngf": 64, "ndf": 64, "netD": "basic",
    "netG": "resnet_9blocks", "n_layers_D": 3, "norm": "instance", "init_type": "normal", "init_gain": 0.02,
    "no_dropout": True, "dataset_mode": "unaligned", "direction": "AtoB", "serial_batches": False,
    "num_threads": 4, "batch_size": 1, "load_size": 286, "crop_size": 256, "max_dataset_size": math.inf,
    "preprocess": "resize_and_crop", "no_flip": False, "display_winsize": 256, "epoch": "latest",
    "load_iter": 0, "verbose": False, "suffix": "", "use_wandb": False,
    "wandb_project_name": "CycleGAN-and-pix2pix",
}
TRAIN_DEFAULTS = {
    "display_freq": 400, "display_ncols": 4, "display_id": 1, "display_server": "http://localhost",
    "display_env": "main", "display_port": 8097, "update_html_freq": 1000, "print_freq": 100,
    "no_html": False, "save_latest_freq": 5000, "save_epoch_freq": 5, "save_by_iter": False,
    "continue_train": False, "epoch_count": 1, "phase": "train", "n_epochs": 100, "n_epochs_decay": 100,
    "beta1": 0.5, "lr": 0.0002, "gan_mode": "lsgan", "pool_size": 50, "lr_policy": "linear",
    "lr_decay_iters": 50, "lambda_A": 10.0, "lambda_B": 10.0, "lambda_identity": 0.5,
}
TEST_DEFAULTS = {
    "results_dir": "./results/", "aspect_ratio": 1.0, "phase": "test", "eval": False, "num_test": 50,
    "model_suffix": "", "model": "test", "dataset_mode": "single", "no_flip": True,
}
# batch_size: the classic test.py forced 1; ours resolves None to 16, or 1 for batch norm without --eval
TEST_SPECIFIC_BASE = {"model", "dataset_mode", "no_flip", "no_dropout", "load_size", "batch_size"}

CHOICES = {
    "netG": ["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"],
    "netD": ["basic", "n_layers", "pixel"],
    "norm": ["instance", "batch", "none"],
    "init_type": ["normal", "xavier", "kaiming", "orthogonal"],
    "gan_mode": ["lsgan", "vanilla", "wgangp"],
    "lr_policy": ["linear", "step", "plateau", "cosine"],
    "preprocess": ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"],
    "direction": ["AtoB", "BtoA"],
}


def _train(*args: str):
    return parse_train_options(["--dataroot", "x", *args])


def _test(*args: str):
    return parse_test_options(["--dataroot", "x", *args])


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


# ----------------------------------------------------------------------------- defaults

@pytest.mark.parametrize("flag,default", sorted({**BASE_DEFAULTS, **TRAIN_DEFAULTS}.items()))
def test_train_flag_has_its_classic_default(flag, default):
    opt, _, _ = _train()
    assert _same(getattr(opt, flag), default), (flag, getattr(opt, flag))


@pytest.mark.parametrize("flag,default",
                         sorted({**{k: v for k, v in BASE_DEFAULTS.items() if k not in TEST_SPECIFIC_BASE},
                                 **TEST_DEFAULTS}.items()))
def test_test_flag_has_its_classic_default(flag, default):
    opt, _, _ = _test()
    assert _same(getattr(opt, flag), default), (flag, getattr(opt, flag))


def test_test_options_dropout_default_follows_the_model():
    assert _test()[0].no_dropout is False  # classic --model test leaves dropout on
    opt = _test("--model", "cycle_gan")[0]
    assert opt.no_dropout is True and opt.dataset_mode == "unaligned"
    assert opt.no_flip is True


def test_phase_flags_are_marked():
    assert _train()[0].isTrain is True
    assert _test()[0].isTrain is False


def test_dataroot_is_required():
    with pytest.raises(UserError, match="--dataroot"):
        parse_train_options([])
    with pytest.raises(UserError, match="--dataroot"):
        parse_test_options([])


def test_train_only_flags_are_unknown_to_test_options():
    with pytest.raises(UserError, match="--lr"):
        _test("--lr", "0.1")


def test_given_values_are_typed():
    opt, _, _ = _train("--batch_size", "4", "--lr", "0.001", "--max_dataset_size", "7", "--no_dropout",
                       "--serial_batches", "--gpu_ids", "-1")
    assert opt.batch_size == 4 and opt.lr == pytest.approx(0.001) and opt.max_dataset_size == 7
    assert opt.serial_batches is True and opt.gpu_ids == "-1"


@pytest.mark.parametrize("flag,value", [("--batch_size", "0"), ("--load_size", "-3"), ("--num_threads", "-1"),
                                        ("--lr", "fast"), ("--n_epochs", "ten")])
def test_invalid_numbers_are_user_errors_naming_the_flag(flag, value):
    with pytest.raises(UserError, match=flag):
        _train(flag, value)


# ----------------------------------------------------------------------------- choices

@pytest.mark.parametrize("flag,value", [(f, v) for f, values in CHOICES.items() for v in values])
def test_every_classic_choice_is_accepted(flag, value):
    opt, _, _ = _train(f"--{flag}", value)
    assert getattr(opt, flag) == value


@pytest.mark.parametrize("flag", sorted(CHOICES) + ["dataset_mode", "model"])
def test_unknown_choice_is_a_user_error_naming_the_flag(flag):
    with pytest.raises(UserError, match=f"--{flag}"):
        _train(f"--{flag}", "no_such_value")


def test_dataset_mode_choices():
    assert _train("--dataset_mode", "unaligned")[0].dataset_mode == "unaligned"
    with pytest.raises(UserError, match="dataset_mode"):
        _train("--dataset_mode", "single")
    assert _test("--dataset_mode", "single")[0].dataset_mode == "single"
    assert _test("--dataset_mode", "unaligned")[0].dataset_mode == "unaligned"
    with pytest.raises(UserError, match="--dataset_mode"):
        _test("--dataset_mode", "aligned")


def test_model_test_cannot_be_trained():
    with pytest.raises(UserError, match="--model"):
        _train("--model", "test")


# The classic code base renamed these flags in 2018-2019 (the old names are in the scripts of that time);
# each old name must parse to exactly what its new name does.
RENAMED_TRAIN = [("--which_model_netG", "--netG", "unet_128"), ("--which_model_netD", "--netD", "pixel"),
                 ("--which_direction", "--direction", "BtoA"), ("--which_epoch", "--epoch", "7"),
                 ("--batchSize", "--batch_size", "3"), ("--nThreads", "--num_threads", "1"),
                 ("--loadSize", "--load_size", "300"), ("--fineSize", "--crop_size", "128"),
                 ("--resize_or_crop", "--preprocess", "scale_width_and_crop"), ("--niter", "--n_epochs", "5"),
                 ("--niter_decay", "--n_epochs_decay", "6"), ("--identity", "--lambda_identity", "0.1"),
                 ("--display_single_pane_ncols", "--display_ncols", "2")]


@pytest.mark.parametrize("old,new,value", RENAMED_TRAIN)
def test_renamed_classic_training_flags_mean_their_new_names(old, new, value):
    opt_old, given_old, _ = _train(old, value)
    opt_new, given_new, _ = _train(new, value)
    assert vars(opt_old) == vars(opt_new) and given_old == given_new
    assert getattr(opt_new, new[2:]) != getattr(_train()[0], new[2:])  # the value took effect


@pytest.mark.parametrize("old,new,value", [("--how_many", "--num_test", "3"), ("--fineSize", "--crop_size", "128"),
                                           ("--which_direction", "--direction", "BtoA")])
def test_renamed_classic_test_flags_mean_their_new_names(old, new, value):
    assert vars(_test(old, value)[0]) == vars(_test(new, value)[0])


def test_no_lsgan_is_the_vanilla_gan_loss():
    opt, given, _ = _train("--no_lsgan")
    assert opt.gan_mode == "vanilla" and "gan_mode" in given


@pytest.mark.parametrize("alias,norm", [("syncbatch", "batch"), ("sync_batch", "batch"), ("sync_instance", "instance")])
def test_classic_norm_spellings(alias, norm):
    """--norm syncbatch (the 2025 classic code), sync_batch and sync_instance (its README)."""
    assert _train("--norm", alias)[0].norm == norm
    assert _test("--model", "pix2pix", "--norm", alias)[0].norm == norm


@pytest.mark.parametrize("argv,expect", [(["--model", "colorization"], "--model colorization"),
                                         (["--model", "template"], "--model template"),
                                         (["--dataset_mode", "colorization"], "--dataset_mode colorization"),
                                         (["--dataset_mode", "template"], "--dataset_mode template")])
def test_classic_models_not_included_say_so(argv, expect):
    for parse in (_train, _test):
        with pytest.raises(UserError, match=f"^{expect} .*not") as err:
            parse(*argv)
        assert "\n" not in str(err.value)


def test_test_choices_are_accepted_by_test_options():
    for flag in ("netG", "norm", "preprocess", "direction"):
        for value in CHOICES[flag]:
            assert getattr(_test(f"--{flag}", value)[0], flag) == value
    for suffix in ("", "_A", "_B"):
        assert _test("--model_suffix", suffix)[0].model_suffix == suffix


def test_parsing_an_argv_list_ignores_sys_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--bogus", "--netG", "nonsense", "--batch_size", "0"])
    opt, given, _ = _train("--netG", "unet_128")
    assert opt.netG == "unet_128" and opt.batch_size == 1
    assert given == {"dataroot", "netG"}
    opt, given, _ = _test("--model", "cycle_gan")
    assert opt.model == "cycle_gan" and opt.netG == "resnet_9blocks"
    assert given == {"dataroot", "model"}


# ----------------------------------------------------------------------------- suffix

def test_suffix_is_formatted_from_the_options_and_appended_to_the_name():
    opt, _, _ = _train("--name", "faces", "--netG", "unet_128", "--batch_size", "4",
                       "--suffix", "{netG}_bs{batch_size}")
    assert opt.name == "faces_unet_128_bs4"
    opt, _, _ = _test("--name", "faces", "--suffix", "{model}_size{crop_size}")
    assert opt.name == "faces_test_size256"


def test_empty_suffix_leaves_the_name():
    assert _train("--name", "faces")[0].name == "faces"


@pytest.mark.parametrize("suffix", ["{no_such_option}", "{netG", "{0}"])
def test_bad_suffix_is_a_user_error(suffix):
    with pytest.raises(UserError, match="--suffix"):
        _train("--suffix", suffix)


@pytest.mark.parametrize("suffix", ["{netG.nosuch}", "{lr[0]}"])
def test_suffix_with_bad_field_access_is_a_user_error(suffix):
    with pytest.raises(UserError, match="--suffix"):
        _train("--suffix", suffix)


# ----------------------------------------------------------------------------- explicit_flags

def test_explicit_flags_are_exactly_the_flags_given():
    argv = ["--dataroot", "x", "--no_flip", "--lr=0.1", "--netG", "unet_128", "--batch_size", "1",
            "--continue_train", "--gpu_ids", "-1"]
    opt, given, parser = parse_train_options(argv)
    expected = {"dataroot", "no_flip", "lr", "netG", "batch_size", "continue_train", "gpu_ids"}
    assert given == expected
    assert explicit_flags(parser, argv) == expected
    assert opt.lr == pytest.approx(0.1) and opt.no_flip is True


def test_explicit_flags_of_defaults_only():
    _, given, parser = _train()
    assert given == {"dataroot"}
    assert explicit_flags(parser, []) == set()


def test_explicit_flags_understands_abbreviations_like_the_parser():
    opt, given, _ = _train("--serial", "--lambda_iden", "0")
    assert opt.serial_batches is True and opt.lambda_identity == 0.0
    assert given == {"dataroot", "serial_batches", "lambda_identity"}


def test_explicit_flags_for_test_options():
    _, given, _ = _test("--eval", "--num_test=3", "--model_suffix", "_A")
    assert given == {"dataroot", "eval", "num_test", "model_suffix"}


# ----------------------------------------------------------------------------- save / load

def test_save_options_writes_the_classic_text_layout(tmp_path):
    opt, _, parser = _train("--name", "faces", "--lr", "0.001", "--no_flip")
    save_options(opt, parser, tmp_path)
    lines = (tmp_path / "train_opt.txt").read_text().splitlines()
    assert lines[0] == "----------------- Options ---------------"
    assert lines[-1] == "----------------- End -------------------"
    body = lines[1:-1]
    assert len(body) == len(vars(opt))
    assert f"{'lr':>25}: {'0.001':<30}\t[default: 0.0002]" in body
    assert f"{'name':>25}: {'faces':<30}\t[default: experiment_name]" in body
    assert f"{'no_flip':>25}: {'True':<30}\t[default: False]" in body
    assert f"{'netG':>25}: {'resnet_9blocks':<30}" in body
    assert f"{'max_dataset_size':>25}: {'inf':<30}" in body
    keys = [line.split(":", 1)[0].strip() for line in body]
    assert keys == sorted(vars(opt))
    for line in body:
        key = line.split(":", 1)[0].strip()
        assert line.startswith(f"{key:>25}: ")
        assert ("\t[default: " in line) == (key in {"lr", "name", "no_flip", "dataroot", "isTrain"})


def test_save_options_json_reads_back_equal(tmp_path):
    opt, _, parser = _train("--name", "faces", "--netG", "unet_256", "--seed", "17")
    path = save_options(opt, parser, tmp_path)
    assert path == tmp_path / "train_opt.json"

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    json.loads(path.read_text(), parse_constant=no_constants)
    run = load_run_options(tmp_path)
    assert run == vars(opt)
    assert run["max_dataset_size"] == math.inf


def test_save_options_for_test_phase_uses_test_file_names(tmp_path):
    opt, _, parser = _test()
    save_options(opt, parser, tmp_path)
    assert (tmp_path / "test_opt.txt").is_file() and (tmp_path / "test_opt.json").is_file()
    assert load_run_options(tmp_path) is None  # only a training run's options are read back


def test_save_options_into_an_unwritable_place_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    opt, _, parser = _train()
    with pytest.raises(UserError):
        save_options(opt, parser, blocker / "run")


def test_load_run_options_of_a_broken_file_is_a_user_error(tmp_path):
    (tmp_path / "train_opt.json").write_text("{not json")
    with pytest.raises(UserError, match="train_opt.json"):
        load_run_options(tmp_path)


# ----------------------------------------------------------------------------- adopt_run_flags

FLAGS = ("netG", "ngf", "norm", "no_dropout")


def test_adopt_run_flags_takes_the_runs_values_for_flags_not_given():
    opt, given, _ = _train("--ngf", "32")
    run = {"netG": "unet_128", "ngf": 32, "norm": "batch", "no_dropout": True, "lr": 0.5}
    taken = adopt_run_flags(opt, given, run, FLAGS, "run/train_opt.json")
    assert set(taken) == {"netG", "norm"}
    assert (opt.netG, opt.ngf, opt.norm, opt.no_dropout) == ("unet_128", 32, "batch", True)
    assert opt.lr == 0.0002  # not in the flags asked for


def test_adopt_run_flags_refuses_a_given_flag_that_contradicts_the_run():
    opt, given, _ = _train("--netG", "resnet_6blocks")
    with pytest.raises(UserError, match="--netG") as info:
        adopt_run_flags(opt, given, {"netG": "unet_256"}, FLAGS, "run/train_opt.json")
    assert "run/train_opt.json" in str(info.value)


def test_adopt_run_flags_skips_flags_missing_from_the_run():
    opt, given, _ = _train()
    assert adopt_run_flags(opt, given, {"ngf": 16}, FLAGS, "run") == ["ngf"]
    assert opt.ngf == 16 and opt.netG == "resnet_9blocks"


def test_adopt_run_flags_does_nothing_without_a_run():
    opt, given, _ = _train("--netG", "unet_128")
    before = dict(vars(opt))
    assert adopt_run_flags(opt, given, None, FLAGS, "run") == []
    assert vars(opt) == before


# ----------------------------------------------------------------------------- gpu ids

@pytest.mark.parametrize("text,expected", [("0", [0]), ("0,1", [0, 1]), ("0,2", [0, 2]), ("-1", []),
                                           ("1, 3", [1, 3])])
def test_parse_gpu_ids(text, expected):
    assert parse_gpu_ids(text) == expected


@pytest.mark.parametrize("text", ["a", "0,x", "1.5"])
def test_parse_gpu_ids_rejects_non_integers(text):
    with pytest.raises(UserError, match="--gpu_ids"):
        parse_gpu_ids(text)


@pytest.mark.parametrize("argv, identity", [
    ((), 0.5),                                       # the classic default without --attention
    (("--attention",), 0.0),                         # off with --attention: it would pull the maps to 0
    (("--attention", "--lambda_identity", "0.5"), 0.5),  # unless it is asked for
    (("--attention", "--lambda_identity", "0.2"), 0.2),
])
def test_attention_turns_the_identity_loss_off_unless_given(argv, identity):
    opt, _, _ = _train(*argv)
    assert opt.lambda_identity == identity
