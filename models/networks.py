"""Generators, discriminators, normalisation layers and weight initialisation.

Every network here produces state dicts whose keys and tensor shapes are identical to those of the
classic pytorch-CycleGAN-and-pix2pix code base, so checkpoints move between the two unchanged
(``tests/test_networks.py`` compares against a recorded copy of the classic layout). That is why the
layers sit in ``nn.Sequential`` containers at fixed positions, why parameter-free layers (padding,
activations, ``Identity`` for ``--norm none``) still take an index, and why a convolution carries a
bias exactly when the classic code gave it one.

To add a generator or discriminator, write a builder with explicit arguments and register it in
``GENERATORS`` or ``DISCRIMINATORS``: the option parsers take their ``choices`` from these dicts.
Networks never see the option namespace.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
from torch import nn
from torch.nn import init

NormFactory = Callable[[int], nn.Module]


def _identity_norm(num_features: int) -> nn.Module:
    return nn.Identity()


NORMS: dict[str, NormFactory] = {
    # Instance norm without affine parameters or running statistics, as in the CycleGAN paper.
    "instance": functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False),
    "batch": functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True),
    "none": _identity_norm,
}


def get_norm_layer(norm: str) -> NormFactory:
    """Return a constructor ``f(num_channels) -> nn.Module`` for the ``--norm`` name."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose from {sorted(NORMS)}")
    return NORMS[norm]


def conv_bias_for(norm: str) -> bool:
    """Whether convolutions followed by this norm carry a bias.

    Batch norm has its own shift, so its convolutions go without one. The classic code also drops
    the bias for ``--norm none`` (an accident of how it tested the norm type), and checkpoints made
    with it have no bias keys there, so we keep that to stay loadable.
    """
    return norm == "instance"


# --------------------------------------------------------------------------------------------- #
# Generators
# --------------------------------------------------------------------------------------------- #


class ResnetBlock(nn.Module):
    """Two 3x3 convolutions with reflection padding and a skip connection (He et al. 2016)."""

    def __init__(self, dim: int, norm: str, use_dropout: bool):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias_for(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, bias=bias),
            norm_layer(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Johnson et al. (2016) style generator used by CycleGAN.

    c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks at 1/4 resolution, two
    stride-2 transposed convolutions, c7s1-output_nc and tanh. Works on any size divisible by 4.
    """

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = False, n_blocks: int = 6):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias_for(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, bias=bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        channels = ngf
        for _ in range(2):  # downsample
            layers += [
                nn.Conv2d(channels, channels * 2, kernel_size=3, stride=2, padding=1, bias=bias),
                norm_layer(channels * 2),
                nn.ReLU(True),
            ]
            channels *= 2
        layers += [ResnetBlock(channels, norm, use_dropout) for _ in range(n_blocks)]
        for _ in range(2):  # upsample
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, kernel_size=3, stride=2, padding=1,
                                   output_padding=1, bias=bias),
                norm_layer(channels // 2),
                nn.ReLU(True),
            ]
            channels //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """One level of a U-Net: down, the inner levels (``submodule``), up, and a skip connection.

    |-- downsampling -- |submodule| -- upsampling --|  concatenated with the block's input, except at
    the outermost level, which returns the image.
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        norm_layer, bias = get_norm_layer(norm), conv_bias_for(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(inner_nc), submodule,
                      nn.ReLU(True), upconv, norm_layer(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net generator (Ronneberger et al. 2015) as in pix2pix.

    ``num_downs`` halvings take a 2**num_downs image to 1x1 at the bottleneck: 7 for 128 px,
    8 for 256 px. Built from the innermost level outwards.
    """

    def __init__(self, input_nc: int, output_nc: int, num_downs: int, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                             outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "resnet_9blocks": functools.partial(ResnetGenerator, n_blocks=9),
    "resnet_6blocks": functools.partial(ResnetGenerator, n_blocks=6),
    "unet_256": functools.partial(UnetGenerator, num_downs=8),
    "unet_128": functools.partial(UnetGenerator, num_downs=7),
}

# --------------------------------------------------------------------------------------------- #
# Discriminators
# --------------------------------------------------------------------------------------------- #


class NLayerDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, one per overlapping image patch.

    With ``n_layers=3`` (``--netD basic``) each output sees a 70x70 patch of the input.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias_for(norm)
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1),
                                   nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last hidden layer keeps the resolution
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=stride, padding=1, bias=bias),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: judges every pixel on its own (colour statistics only)."""

    def __init__(self, input_nc: int, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias_for(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, bias=bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "basic": lambda input_nc, ndf, n_layers, norm: NLayerDiscriminator(input_nc, ndf, 3, norm),
    "n_layers": lambda input_nc, ndf, n_layers, norm: NLayerDiscriminator(input_nc, ndf, n_layers, norm),
    "pixel": lambda input_nc, ndf, n_layers, norm: PixelDiscriminator(input_nc, ndf, norm),
}

# --------------------------------------------------------------------------------------------- #
# Construction and initialisation
# --------------------------------------------------------------------------------------------- #

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights by ``init_type`` and batch-norm scales around 1 (as classic)."""
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}; choose from {INIT_TYPES}")

    def init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "normal":
                init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                init.orthogonal_(m.weight, gain=init_gain)
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            init.normal_(m.weight, 1.0, init_gain)
            init.zeros_(m.bias)

    with torch.no_grad():
        net.apply(init_module)
    return net


def define_G(netG: str, input_nc: int, output_nc: int, ngf: int = 64, norm: str = "instance",
             use_dropout: bool = False, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Build and initialise a generator by its ``--netG`` name."""
    if netG not in GENERATORS:
        raise ValueError(f"unknown generator {netG!r}; choose from {sorted(GENERATORS)}")
    net = GENERATORS[netG](input_nc, output_nc, ngf=ngf, norm=norm, use_dropout=use_dropout)
    return init_weights(net, init_type, init_gain)


def define_D(netD: str, input_nc: int, ndf: int = 64, n_layers_D: int = 3, norm: str = "instance",
             init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Build and initialise a discriminator by its ``--netD`` name."""
    if netD not in DISCRIMINATORS:
        raise ValueError(f"unknown discriminator {netD!r}; choose from {sorted(DISCRIMINATORS)}")
    return init_weights(DISCRIMINATORS[netD](input_nc, ndf, n_layers_D, norm), init_type, init_gain)


def receptive_field(net: nn.Module) -> int:
    """Receptive field in input pixels of one output unit of a purely convolutional stack.

    Walks the layers in order: each conv of kernel k widens the field by (k - 1) times the product
    of the strides before it. Used to show that ``--netD basic`` judges 70x70 patches.
    """
    field, jump = 1, 1
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            k, s = m.kernel_size[0], m.stride[0]
            field += (k - 1) * jump
            jump *= s
    return field
