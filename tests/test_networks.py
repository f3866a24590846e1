"""Networks: classic state-dict layout, receptive field, shapes, initialisation, flag inference.

The layout reference ``tests/data/classic_state_dict_layout.json`` was recorded from the classic
code base's ``models/networks.py`` (see ``tests/data/README.md``). That recording is of a 2018
version whose InstanceNorm still tracked running statistics and which could not build
``--norm none``; the current classic code drops those statistics (and deletes them when loading
old files), and builds ``none`` as batch-norm's layout without the norm layers. The expectations
below derive both from the recording (``tests/classic_layout.py``).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from classic_layout import LAYOUT, classic_checkpoint, find, generator_layout, recorded
from models.networks import (DISCRIMINATORS, GENERATORS, NORMS, define_D, define_G, init_weights,
                             receptive_field, size_multiple)
from util.checkpoint import clean_state_dict, infer_generator_flags, load_network
from util.errors import UserError


def layout(net: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in net.state_dict().items()]


@pytest.mark.parametrize("netG", sorted(GENERATORS))
@pytest.mark.parametrize("norm", sorted(NORMS))
@pytest.mark.parametrize("dropout", [False, True])
def test_generator_state_dict_matches_classic_layout(netG, norm, dropout):
    source_norm = "batch" if norm == "none" else norm
    entry = find(LAYOUT["generators"], netG=netG, norm=source_norm, use_dropout=dropout, ngf=64, input_nc=3)
    net = define_G(netG, 3, 3, ngf=64, norm=norm, use_dropout=dropout)
    assert layout(net) == recorded(entry, norm)


@pytest.mark.parametrize("netG", sorted(GENERATORS))
@pytest.mark.parametrize("norm", sorted(NORMS))
@pytest.mark.parametrize("dropout", [False, True])
def test_classic_layout_scales_with_ngf(netG, norm, dropout):
    """The classic checkpoints the compatibility tests make at 8 filters have this code's layout at 8."""
    assert generator_layout(netG, norm, dropout, ngf=8) == layout(define_G(netG, 3, 3, ngf=8, norm=norm,
                                                                           use_dropout=dropout))


def test_generator_layout_with_other_channels_and_width():
    entry = find(LAYOUT["generators"], netG="resnet_9blocks", ngf=32, input_nc=1)
    net = define_G("resnet_9blocks", entry["input_nc"], entry["output_nc"], ngf=32, norm="instance")
    assert layout(net) == recorded(entry, "instance")


@pytest.mark.parametrize("netD,n_layers", [("basic", 3), ("n_layers", 3), ("n_layers", 4), ("n_layers", 5), ("pixel", 3)])
@pytest.mark.parametrize("norm", sorted(NORMS))
def test_discriminator_state_dict_matches_classic_layout(netD, n_layers, norm):
    source_norm = "batch" if norm == "none" else norm
    match = dict(netD=netD, norm=source_norm, ndf=64, input_nc=3)
    if netD == "n_layers":
        match["n_layers_D"] = n_layers
    candidates = [e for e in LAYOUT["discriminators"] if all(e[k] == v for k, v in match.items())]
    entry = candidates[0]
    net = define_D(netD, 3, ndf=64, n_layers_D=n_layers, norm=norm)
    assert layout(net) == recorded(entry, norm)


def test_classic_instance_norm_checkpoint_with_running_stats_loads(tmp_path):
    """Files saved by old PyTorch carry InstanceNorm statistics; they load (as the classic code does)."""
    net = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance")
    state = dict(net.state_dict())
    state["model.2.running_mean"] = torch.zeros(8)
    state["model.2.running_var"] = torch.ones(8)
    state = {f"module.{k}": v for k, v in state.items()}  # saved from a DataParallel wrapper
    torch.save(state, tmp_path / "old.pth")
    other = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance")
    load_network(other, tmp_path / "old.pth", "--netG resnet_6blocks")
    for k, v in net.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    assert "model.2.running_mean" not in clean_state_dict(state, other)


def _empirical_field(net: nn.Module, size: int = 160) -> tuple[int, int]:
    """Rows and columns of the input that influence the centre output unit (by back-propagation)."""
    x = torch.randn(1, 3, size, size, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    touched = x.grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = touched.any(dim=1).nonzero(), touched.any(dim=0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_basic_discriminator_sees_exactly_70x70_patches():
    # Without a norm layer, each output depends only on its own patch (instance norm would mix in
    # image-wide statistics).
    torch.manual_seed(0)
    net = define_D("basic", 3, ndf=8, norm="none")
    assert _empirical_field(net) == (70, 70)
    assert receptive_field(net) == 70


@pytest.mark.parametrize("n_layers", [1, 2, 4])
def test_receptive_field_formula_matches_backpropagation(n_layers):
    torch.manual_seed(0)
    net = define_D("n_layers", 3, ndf=4, n_layers_D=n_layers, norm="none")
    rows, cols = _empirical_field(net, size=256)
    assert rows == cols == receptive_field(net)


def test_pixel_discriminator_sees_one_pixel():
    net = define_D("pixel", 3, ndf=4, norm="none")
    assert _empirical_field(net, size=16) == (1, 1)


@pytest.mark.parametrize("netG,size", [("resnet_9blocks", 36), ("resnet_6blocks", 20), ("unet_128", 128), ("unet_256", 256)])
def test_generators_keep_image_shape_and_range(netG, size):
    net = define_G(netG, 3, 1, ngf=4, norm="batch")
    out = net(torch.randn(2, 3, size, size))
    assert out.shape == (2, 1, size, size)
    assert out.abs().max() <= 1.0  # tanh output


@pytest.mark.parametrize("netD", sorted(DISCRIMINATORS))
def test_discriminators_give_a_grid_of_logits(netD):
    out = define_D(netD, 3, ndf=4)(torch.randn(2, 3, 64, 64))
    expected = {"basic": (2, 1, 6, 6), "n_layers": (2, 1, 6, 6), "pixel": (2, 1, 64, 64)}[netD]
    assert out.shape == expected


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_types(init_type):
    torch.manual_seed(0)
    net = define_D("basic", 3, ndf=16, norm="batch", init_type=init_type, init_gain=0.02)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        if conv.bias is not None:
            assert torch.count_nonzero(conv.bias) == 0
    weight = convs[2].weight  # 32 -> 64 channels, 4x4
    fan_in = weight[0].numel()
    if init_type == "normal":
        assert weight.std().item() == pytest.approx(0.02, rel=0.1)
    elif init_type == "kaiming":
        assert weight.std().item() == pytest.approx((2.0 / fan_in) ** 0.5, rel=0.1)
    elif init_type == "xavier":
        fan_out = weight.shape[0] * weight[0, 0].numel()
        assert weight.std().item() == pytest.approx(0.02 * (2.0 / (fan_in + fan_out)) ** 0.5, rel=0.1)
    else:
        flat = weight.flatten(1)  # rows orthogonal, scaled by the gain
        gram = flat @ flat.T / 0.02**2
        assert torch.allclose(gram, torch.eye(flat.shape[0]), atol=1e-4)
    bn = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.02)
    assert torch.count_nonzero(bn.bias) == 0


def test_init_weights_rejects_unknown_type():
    with pytest.raises(ValueError):
        init_weights(nn.Conv2d(1, 1, 1), "uniform")


@pytest.mark.parametrize("netG", sorted(GENERATORS))
@pytest.mark.parametrize("norm", sorted(NORMS))
@pytest.mark.parametrize("dropout", [False, True])
def test_generator_flags_are_inferred_from_weights(netG, norm, dropout):
    net = define_G(netG, 3, 1, ngf=8, norm=norm, use_dropout=dropout)
    flags = infer_generator_flags(net.state_dict())
    assert (flags["netG"], flags["ngf"], flags["norm"], flags["input_nc"], flags["output_nc"]) == (netG, 8, norm, 3, 1)
    if netG.startswith("resnet"):  # U-Net dropout has no parameters, so it leaves no trace
        assert flags["no_dropout"] is (not dropout)


@pytest.mark.parametrize("netG", sorted(GENERATORS))
def test_old_instance_norm_statistics_do_not_read_as_batch_norm(netG):
    """Instance norms saved by PyTorch before 0.4 (the classic released models) carry running statistics
    like batch norms; the biased convolutions before them say instance."""
    state = classic_checkpoint(netG, "instance", dropout=False, ngf=8, old_instance_stats=True)
    assert any(k.endswith("running_mean") for k in state)
    flags = infer_generator_flags(state)
    assert (flags["netG"], flags["ngf"], flags["norm"]) == (netG, 8, "instance")
    assert infer_generator_flags(classic_checkpoint(netG, "batch", dropout=False, ngf=8))["norm"] == "batch"


@pytest.mark.parametrize("netG", sorted(GENERATORS))
def test_size_multiple_is_what_the_generator_keeps(netG):
    """Sides that are multiples of size_multiple(netG) come back the same; a U-Net fails on any other."""
    multiple = size_multiple(netG)
    side = max(multiple, 8)  # a ResNet's reflection padding needs 2 pixels left after its two halvings
    net = define_G(netG, 3, 3, ngf=2, norm="none").eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, side, 2 * side)).shape[-2:] == (side, 2 * side)
        if multiple > 4:
            with pytest.raises(RuntimeError):
                net(torch.zeros(1, 3, multiple, multiple + multiple // 2))
    assert multiple == (4 if netG.startswith("resnet") else int(netG[5:]))


def test_loading_another_architecture_names_the_difference(tmp_path):
    torch.save(define_G("resnet_6blocks", 3, 3, ngf=8).state_dict(), tmp_path / "g.pth")
    with pytest.raises(UserError, match=r"resnet_6blocks --ngf 8"):
        load_network(define_G("resnet_9blocks", 3, 3, ngf=8), tmp_path / "g.pth", "--netG resnet_9blocks --ngf 8")


def test_pix2pix_default_networks_match_the_classic_layout(tmp_path):
    """pix2pix's G (unet_256, batch norm, dropout) and its conditional D (basic PatchGAN on [A, B]: 6
    input channels, batch norm), as Pix2PixModel builds them from the classic defaults, and as saved.

    The recording has the U-Net as it is, but its discriminators all take 3 channels. The classic D
    takes input_nc + output_nc channels in its first convolution only (model.0.weight), so the
    expected layout is the recorded 3-channel basic batch-norm D with that one shape set to 6."""
    from models.pix2pix_model import Pix2PixModel
    from options.train_options import parse_train_options

    opt = parse_train_options(["--dataroot", "unused", "--model", "pix2pix", "--gpu_ids", "-1"])[0]
    model = Pix2PixModel(opt, torch.device("cpu"))
    g_entry = find(LAYOUT["generators"], netG="unet_256", norm="batch", use_dropout=True, ngf=64, input_nc=3)
    d_entry = find(LAYOUT["discriminators"], netD="basic", norm="batch", ndf=64, input_nc=3)
    d_expected = [(k, (64, 6, 4, 4) if k == "model.0.weight" else s) for k, s in recorded(d_entry, "batch")]
    assert layout(model.nets["G"]) == recorded(g_entry, "batch")
    assert layout(model.nets["D"]) == d_expected
    model.save(tmp_path, "latest")
    for name, expected in (("G", recorded(g_entry, "batch")), ("D", d_expected)):
        saved = torch.load(tmp_path / f"latest_net_{name}.pth", map_location="cpu", weights_only=True)
        assert [(k, tuple(v.shape)) for k, v in saved.items()] == expected


# ------------------------------------------------------------------------------------------------ #
# Memory: networks sized before they are built
# ------------------------------------------------------------------------------------------------ #


@pytest.mark.parametrize("model, netG", [("cycle_gan", "resnet_6blocks"), ("pix2pix", "unet_128")])
def test_memory_estimate_counts_the_networks_without_building_them(model, netG, monkeypatch):
    """models/memory.py's meta-device count equals the parameters of the networks the model builds, draws
    no random numbers (a seeded run starts from the same weights with or without the check), takes no
    time at --ngf 100000, and refuses exactly where 4 float32 copies exceed the free memory."""
    import time
    from types import SimpleNamespace

    from models import MODELS, memory

    opt = SimpleNamespace(isTrain=True, netG=netG, netD="basic", ngf=8, ndf=8, n_layers_D=3, norm="batch",
                          no_dropout=False, init_type="normal", init_gain=0.02, input_nc=3, output_nc=3,
                          attention=model == "cycle_gan")
    torch.manual_seed(0)
    rng = torch.get_rng_state()
    sizes = memory.parameter_bytes(MODELS[model], opt)
    assert torch.equal(torch.get_rng_state(), rng)
    built = MODELS[model].build_networks(opt)
    assert sizes == {name: 4 * sum(p.numel() for p in net.parameters()) for name, net in built.items()}

    start = time.perf_counter()
    huge = memory.parameter_bytes(MODELS[model], SimpleNamespace(**{**vars(opt), "ngf": 100_000}))
    assert sum(huge.values()) > 10**13 and time.perf_counter() - start < 10

    need = 4 * sum(sizes.values())
    monkeypatch.setattr(memory, "free_memory", lambda device: need)
    memory.check_fits(MODELS[model], opt, torch.device("cpu"))
    monkeypatch.setattr(memory, "free_memory", lambda device: need - 1)
    with pytest.raises(UserError, match=f"--netG {netG} at --ngf 8 and --netD basic at --ndf 8"):
        memory.check_fits(MODELS[model], opt, torch.device("cpu"))


def test_only_allocation_failures_become_one_line_errors():
    from models import memory

    for error, line in ((MemoryError(), "out of memory in a step: lower it"),
                        (RuntimeError("CUDA error: out of memory"), "out of memory in a step: lower it"),
                        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 3000000000 "
                                      "bytes"), "out of memory in a step (it tried to allocate 3.0 GB): lower it")):
        with pytest.raises(UserError) as caught:
            with memory.out_of_memory_as_user_error("in a step", "lower it"):
                raise error
        assert str(caught.value) == line
    with pytest.raises(RuntimeError, match="size mismatch"):  # a bug keeps its traceback
        with memory.out_of_memory_as_user_error("in a step", "lower it"):
            raise RuntimeError("size mismatch")
