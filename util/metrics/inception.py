"""The FID Inception network, exactly as pytorch-fid defines it, and where its weights come from.

FID numbers are comparable across papers only when every one uses the same network: the
TensorFlow Inception graph of 2015 that the original FID code used, ported to PyTorch by
pytorch-fid (weights file ``pt_inception-2015-12-05-6726825d.pth``). Its blocks differ from
torchvision's Inception v3 in pooling details, so the network here is torchvision's with
pytorch-fid's own replacement blocks, loaded strictly from that file.

For speed the network is then prepared for inference only: each convolution absorbs the batch norm
that follows it (exact up to float rounding), tensors are channels-last, and it runs under
``torch.inference_mode``. The features equal pytorch-fid's to about 1e-6 relative.

Feature sizes (``dims``) are pytorch-fid's: 64 after the first max pool, 192 after the second, 768
before the auxiliary classifier, 2048 after the final average pool (the standard FID).
"""
from __future__ import annotations

import os
import socket
import urllib.error
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from util.checkpoint import safe_load, state_dict_mismatch
from util.errors import UserError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256_PREFIX = "6726825d"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_NAME}"
DIMS = (64, 192, 768, 2048)
INPUT_SIZE = 299
DOWNLOAD_TIMEOUT_S = 30


class WeightsNotFound(UserError):
    """The FID Inception weights are neither given, nor cached, nor downloadable."""


def hub_weights_path() -> Path:
    """Where torch.hub (and so pytorch-fid) keeps the downloaded file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


def _missing_message(reason: str) -> str:
    return (f"FID Inception weights {WEIGHTS_NAME} not found ({reason}): download it from {WEIGHTS_URL} "
            f"and pass --inception_weights FILE, or put it at {hub_weights_path()}")


def resolve_weights(given: str | None, download: bool = True) -> Path:
    """The weights file to use: ``--inception_weights``, else the torch hub cache, else a download.

    Never falls back to random weights: a number shown to a user must come from the real network.
    """
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise UserError(f"--inception_weights {given} does not exist; download {WEIGHTS_NAME} "
                            f"from {WEIGHTS_URL}")
        return path
    cached = hub_weights_path()
    if cached.is_file():
        return cached
    if not download:
        raise WeightsNotFound(_missing_message(f"not in the torch hub cache {cached.parent}"))
    print(f"downloading {WEIGHTS_URL} to {cached}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a firewalled cluster node should fail, not hang
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(cached), hash_prefix=WEIGHTS_SHA256_PREFIX,
                                       progress=False)
    except (urllib.error.URLError, OSError, RuntimeError, TimeoutError) as err:
        raise WeightsNotFound(_missing_message(f"the download failed: {err}")) from err
    finally:
        socket.setdefaulttimeout(previous)
    return cached


def is_official(sha256: str) -> bool:
    """Whether a weights file's hash is that of pytorch-fid's published file."""
    return sha256.startswith(WEIGHTS_SHA256_PREFIX)


def build_fid_inception() -> nn.Module:
    """pytorch-fid's FID Inception architecture (weights uninitialised), the layout of its file."""
    import torchvision
    from pytorch_fid import inception as fid_blocks

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = fid_blocks.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid_blocks.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid_blocks.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid_blocks.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid_blocks.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid_blocks.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid_blocks.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid_blocks.FIDInceptionE_1(1280)
    net.Mixed_7c = fid_blocks.FIDInceptionE_2(2048)
    return net


def load_fid_inception(path: str | Path) -> nn.Module:
    """The network with the weights of ``path``; a file of another layout is one clear error."""
    state = safe_load(path)
    net = build_fid_inception()
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"--inception_weights {path} is not a state dict; expected {WEIGHTS_NAME}")
    expected = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    problem = state_dict_mismatch(expected, state)
    if problem:
        raise UserError(f"--inception_weights {path} is not the pytorch-fid Inception network ({problem}); "
                        f"expected {WEIGHTS_NAME} from {WEIGHTS_URL}")
    net.load_state_dict(state, strict=False)
    return net.eval()


def fold_batch_norms(net: nn.Module) -> nn.Module:
    """Fold every ``BasicConv2d``'s batch norm into its convolution (inference only).

    conv(x) * s + (beta - mean * s) with s = gamma / sqrt(var + eps) is one convolution with
    weight w * s and bias beta - mean * s; the norm is then an identity.
    """
    from torchvision.models.inception import BasicConv2d

    for module in net.modules():
        if isinstance(module, BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
            conv, bn = module.conv, module.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                              conv.padding, conv.dilation, conv.groups, bias=True)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
            module.conv, module.bn = fused, nn.Identity()
    return net


class InceptionFeatures(nn.Module):
    """Images in [0, 1], already resized to 299x299 -> (N, dims) features, as pytorch-fid computes them.

    pytorch-fid scales to [-1, 1], runs the blocks up to the requested one, and averages the last
    feature map spatially (the network's own final pool for 2048; an adaptive pool for the others).
    """

    def __init__(self, net: nn.Module, dims: int = 2048):
        super().__init__()
        if dims not in DIMS:
            raise UserError(f"--dims {dims} is not one of {DIMS}")
        self.dims = dims
        self.channels_last = False  # set by feature_extractor; inputs are then converted to match
        stages = [
            [net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1],
            [net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2],
            [net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
             net.Mixed_6e],
            [net.Mixed_7a, net.Mixed_7b, net.Mixed_7c],
        ]
        self.body = nn.Sequential(*[layer for stage in stages[: DIMS.index(dims) + 1] for layer in stage])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.body(2.0 * images - 1.0)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def feature_extractor(weights: str | Path, dims: int = 2048, device: str | torch.device = "cpu",
                      fast: bool = True) -> InceptionFeatures:
    """The ready-to-run feature network; ``fast`` folds batch norms and uses channels-last."""
    net = load_fid_inception(weights)
    if fast:
        net = fold_batch_norms(net)
    model = InceptionFeatures(net, dims).to(device).eval().requires_grad_(False)
    if fast:
        model = model.to(memory_format=torch.channels_last)
        model.channels_last = True
    return model


def make_random_weights(path: str | Path, seed: int = 0) -> Path:
    """Write a weights file of the exact pytorch-fid layout with random values, for tests and benchmarks.

    Batch-norm statistics are measured on random images, smooth and sharp, so that activations keep
    a sensible scale through all 94 layers (with default statistics the features shrink to ~1e-3
    and any distance between image sets is ~0, which would make comparisons meaningless). Numbers from such a file
    mean nothing and are never comparable with published FIDs.
    """
    torch.manual_seed(seed)
    net = build_fid_inception()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.2)
            m.momentum = None  # cumulative average: the statistics of exactly the calibration batch
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    calibration = torch.cat([F.interpolate(torch.rand(2, 3, side, side), size=(INPUT_SIZE, INPUT_SIZE),
                                           mode="bilinear", align_corners=False) * 2 - 1
                             for side in (4, 8, 16, 32, 64, 128, INPUT_SIZE)])
    net.train()
    with torch.no_grad():
        net(calibration)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path
