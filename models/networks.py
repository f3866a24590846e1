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

``define_G(..., attention=True)`` (``--attention``) wraps any of the generators in
:class:`AttentionGenerator`: the classic trunk under its classic keys, plus one ``attention`` layer
that makes a one-channel map alpha from the features the image layer reads. Without it nothing here
changes.
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


def attention_blend(content: torch.Tensor, alpha: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """alpha * content + (1 - alpha) * source: the content where alpha is 1, the input where it is 0.

    Written out rather than as ``torch.lerp`` so both ends are exact in floating point: alpha 0
    returns ``source`` bit for bit and alpha 1 returns ``content``.
    """
    return alpha * content + (1 - alpha) * source


def _image_layers(generator: nn.Module) -> nn.Sequential:
    """The ``nn.Sequential`` whose last two layers are the image convolution and its tanh."""
    if isinstance(generator, ResnetGenerator):
        return generator.model
    if isinstance(generator, UnetGenerator):
        return generator.model.model  # the outermost level: down, inner levels, ReLU, up, tanh
    raise TypeError(f"no attention head for {type(generator).__name__}")


def _one_channel_copy(layer: nn.Module) -> nn.Module:
    """A convolution like ``layer`` (kernel, stride, padding) with one output channel and a bias."""
    if isinstance(layer, nn.ConvTranspose2d):
        return nn.ConvTranspose2d(layer.in_channels, 1, layer.kernel_size, layer.stride, layer.padding,
                                  output_padding=layer.output_padding)
    if isinstance(layer, nn.Conv2d):
        return nn.Conv2d(layer.in_channels, 1, layer.kernel_size, layer.stride, layer.padding)
    raise TypeError(f"the image layer {type(layer).__name__} is not a convolution")


class AttentionGenerator(nn.Module):
    """A generator with a second head: a one-channel attention map alpha in [0, 1].

    The image layer of the wrapped generator (a convolution with ``output_nc`` outputs, then tanh)
    becomes, in effect, one layer with ``output_nc + 1`` outputs, as in GANimation's colour and
    attention heads (Pumarola et al. 2018) and AttentionGAN (Tang et al. 2019): tanh on the image
    ("content") channels, sigmoid on alpha, and the translation is
    ``alpha * content + (1 - alpha) * input`` (Mejjati et al. 2018), so pixels alpha leaves at 0
    are the input's exactly. The extra output channel is a layer of its own, ``attention``, so the
    trunk keeps the classic keys and shapes (``model.*``) and the weights themselves say whether a
    checkpoint has the head. ``forward`` returns ``(translation, alpha)``.
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.model = generator.model  # the classic keys: model.* as in the plain generator
        self._unet = isinstance(generator, UnetGenerator)
        layers = _image_layers(generator)
        if not isinstance(layers[-1], nn.Tanh):
            raise TypeError("the wrapped generator must end in its image convolution and tanh")
        self.attention = _one_channel_copy(layers[-2])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layers = self.model.model if self._unet else self.model
        *trunk, image_layer, tanh = layers
        features = x
        for layer in trunk:
            features = layer(features)
        content = tanh(image_layer(features))
        alpha = torch.sigmoid(self.attention(features))
        return attention_blend(content, alpha, x), alpha


GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "resnet_9blocks": functools.partial(ResnetGenerator, n_blocks=9),
    "resnet_6blocks": functools.partial(ResnetGenerator, n_blocks=6),
    "unet_256": functools.partial(UnetGenerator, num_downs=8),
    "unet_128": functools.partial(UnetGenerator, num_downs=7),
}


def size_multiple(netG: str) -> int:
    """The number every image side must be a multiple of for ``netG`` to give back the input's size:
    4 for the ResNets (two halvings), 2**num_downs for a U-Net (256 for unet_256, 128 for unet_128),
    whose skip connections join each level's input with an upsampled output of the same size."""
    if netG not in GENERATORS:
        raise ValueError(f"unknown generator {netG!r}; choose from {sorted(GENERATORS)}")
    builder = GENERATORS[netG]
    return 2 ** builder.keywords["num_downs"] if builder.func is UnetGenerator else 4

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
             use_dropout: bool = False, init_type: str = "normal", init_gain: float = 0.02,
             attention: bool = False) -> nn.Module:
    """Build and initialise a generator by its ``--netG`` name.

    ``attention``: wrap it in :class:`AttentionGenerator` (returns ``(translation, alpha)``); the
    blend with the input needs ``input_nc == output_nc``.
    """
    if netG not in GENERATORS:
        raise ValueError(f"unknown generator {netG!r}; choose from {sorted(GENERATORS)}")
    if attention and input_nc != output_nc:
        raise ValueError(f"an attention generator blends its output with its input: input_nc ({input_nc}) "
                         f"and output_nc ({output_nc}) must be equal")
    net = init_weights(GENERATORS[netG](input_nc, output_nc, ngf=ngf, norm=norm, use_dropout=use_dropout),
                       init_type, init_gain)
    if attention:
        # The head draws its weights from a fork of the global generator, so the trunk and every
        # network built after it start as in a plain run of the same --seed: a controlled comparison.
        with torch.random.fork_rng(devices=[]):
            net = AttentionGenerator(net)
            init_weights(net.attention, init_type, init_gain)
    return net


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
