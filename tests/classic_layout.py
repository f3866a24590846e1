"""The classic code base's networks, as tests need them without its code: the recorded state-dict layout
(``tests/data/classic_state_dict_layout.json``, see ``tests/data/README.md``), checkpoints made in that
layout, and a forward pass of the classic U-Net written from its keys alone.

The recording is of a 2018 version whose InstanceNorm still tracked running statistics and which could
not build ``--norm none``; :func:`recorded` derives today's layouts from it. The checkpoints of
:func:`classic_checkpoint` are what a user brings from the classic code base: its keys in its order,
any ``--ngf`` (the recording has 64 filters; every channel count scales with it), old instance norms
with their statistics, and random values, with positive variances, where the weights would be.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

LAYOUT = json.loads((Path(__file__).parent / "data" / "classic_state_dict_layout.json").read_text())
STATS = ("running_mean", "running_var", "num_batches_tracked")
RECORDED_NGF = 64


def find(entries: list[dict], **match) -> dict:
    hits = [e for e in entries if all(e[k] == v for k, v in match.items())]
    assert len(hits) == 1, match
    return hits[0]


def recorded(entry: dict, norm: str) -> list[tuple[str, tuple[int, ...]]]:
    """The classic layout for ``norm``, derived from a recorded instance- or batch-norm entry."""
    items = [(k, tuple(shape)) for k, shape, _ in entry["state_dict"]]
    if norm == "instance":  # modern InstanceNorm2d(track_running_stats=False) has no buffers
        return [(k, s) for k, s in items if k.rsplit(".", 1)[1] not in STATS]
    if norm == "none":  # the batch layout minus every batch-norm layer (Identity has no keys)
        norm_layers = {k.rsplit(".", 1)[0] for k, _ in items if k.endswith("running_mean")}
        return [(k, s) for k, s in items if k.rsplit(".", 1)[0] not in norm_layers]
    return items


def generator_layout(netG: str, norm: str, dropout: bool, ngf: int = RECORDED_NGF,
                     old_instance_stats: bool = False) -> list[tuple[str, tuple[int, ...]]]:
    """The classic generator's (key, shape) list at ``ngf`` filters (3 channels in and out). Channel
    counts are multiples of the recorded 64 filters, image channels (3) and kernel sides (3, 4, 7)
    are smaller than 64, so every dimension of 64 or more scales with ``ngf``. ``old_instance_stats``:
    keep the running statistics instance norms had before PyTorch 0.4, as in the released models."""
    source = "batch" if norm == "none" else norm
    entry = find(LAYOUT["generators"], netG=netG, norm=source, use_dropout=dropout, ngf=RECORDED_NGF, input_nc=3)
    items = recorded(entry, "batch" if old_instance_stats and norm == "instance" else norm)
    return [(k, tuple(d * ngf // RECORDED_NGF if d >= RECORDED_NGF else d for d in shape)) for k, shape in items]


def classic_checkpoint(netG: str, norm: str, dropout: bool, ngf: int, seed: int = 0,
                       old_instance_stats: bool = False) -> dict[str, torch.Tensor]:
    """A state dict in the classic layout with random values: weights N(0, 0.05), batch-norm scales
    around 1 and shifts around 0, running means around 0 and variances in [0.5, 1.5]."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in generator_layout(netG, norm, dropout, ngf, old_instance_stats):
        leaf = key.rsplit(".", 1)[1]
        if leaf == "num_batches_tracked":
            state[key] = torch.tensor(100)
        elif leaf == "running_var":
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif leaf == "running_mean":
            state[key] = 0.1 * torch.randn(shape, generator=g)
        elif leaf == "weight" and len(shape) == 1:  # a batch norm's scale
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            state[key] = 0.05 * torch.randn(shape, generator=g)
    return state


def classic_unet_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The classic U-Net with batch norm in eval mode (running statistics, no dropout), computed from
    its state-dict keys with torch.nn.functional only.

    The classic ``UnetSkipConnectionBlock`` keeps its layers in an ``nn.Sequential`` called ``model``:
    the outermost level ``[down conv, inner levels, ReLU, up conv, tanh]``, every other level
    ``[LeakyReLU, down conv, (batch norm), inner levels, ReLU, up conv, batch norm, (dropout)]`` (the
    innermost has no inner levels and no norm after its down convolution). A level returns
    ``cat([its input, its output])``, and its first layer is an in-place LeakyReLU(0.2), so the skip
    connection carries the LeakyReLU of the input, not the input itself: that is what classic
    checkpoints were trained with.
    """
    def conv(h, key, transposed=False):
        op = F.conv_transpose2d if transposed else F.conv2d
        return op(h, state[key + ".weight"], state.get(key + ".bias"), stride=2, padding=1)

    def batch_norm(h, key):
        return F.batch_norm(h, state[key + ".running_mean"], state[key + ".running_var"], state[key + ".weight"],
                            state[key + ".bias"], training=False, eps=1e-5)

    def level(h, prefix):  # ``prefix``: the level's Sequential, e.g. "model.model.1.model"
        h = F.leaky_relu(h, 0.2)
        y = conv(h, f"{prefix}.1")
        if f"{prefix}.3.model.1.weight" in state:  # a middle level: its inner levels sit at index 3
            y = level(batch_norm(y, f"{prefix}.2"), f"{prefix}.3.model")
            y = batch_norm(conv(F.relu(y), f"{prefix}.5", transposed=True), f"{prefix}.6")
        else:  # the innermost level
            y = batch_norm(conv(F.relu(y), f"{prefix}.3", transposed=True), f"{prefix}.4")
        return torch.cat([h, y], 1)

    y = level(conv(x, "model.model.0"), "model.model.1.model")
    return torch.tanh(conv(F.relu(y), "model.model.3", transposed=True))


def classic_keys(opt: dict, network: str) -> list[str]:
    """The keys, in order, of a classic checkpoint of ``network`` ("G" or "D") for a run's options
    (its train_opt.json): what the classic code base would save, and load, for those flags."""
    norm = opt["norm"]
    if network == "G":
        return [k for k, _ in generator_layout(opt["netG"], norm, not opt["no_dropout"])]
    match = dict(netD=opt["netD"], norm="batch" if norm == "none" else norm, ndf=RECORDED_NGF, input_nc=3)
    if opt["netD"] == "n_layers":
        match["n_layers_D"] = opt["n_layers_D"]
    entry = [e for e in LAYOUT["discriminators"] if all(e[k] == v for k, v in match.items())][0]
    return [k for k, _ in recorded(entry, norm)]
