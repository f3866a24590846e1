"""CycleGAN (Zhu et al. 2017): two generators and two discriminators trained on unpaired images.

In this repository domain A is unmasked faces and domain B masked faces:

- ``G_AB`` puts a mask on (A -> B), ``G_BA`` takes it off (B -> A);
- ``D_B`` tells real masked faces from ``G_AB``'s fakes, ``D_A`` real unmasked faces from ``G_BA``'s.

Checkpoint files and loss names keep the classic code base's names so its checkpoints, scripts and
loss-log parsers keep working. The classic code named each discriminator after the generator it
opposes, hence the swap for the discriminators in ``CLASSIC_NAMES``:

    ours:     G_AB   G_BA   D_B    D_A
    classic:  G_A    G_B    D_A    D_B      (file <label>_net_<classic>.pth)

Loss keys, as in the classic loss_log.txt: ``G_A``/``G_B`` adversarial losses of G_AB/G_BA,
``D_A``/``D_B`` losses of D_B/D_A, ``cycle_A`` = |G_BA(G_AB(A)) - A|, ``cycle_B`` likewise,
``idt_A`` = |G_AB(B) - B| and ``idt_B`` = |G_BA(A) - A|.

With ``--attention`` each generator also returns its attention map alpha (see
``models.networks.AttentionGenerator``): ``attn_B`` is G_AB's map for ``fake_B``, ``attn_A`` G_BA's
for ``fake_A`` (``attn_rec_A``/``attn_rec_B`` those of the reconstructions), and four more loss keys
regularise each generator's maps of the cycle: ``attn_mean_A``/``attn_tv_A`` (G_AB's, of fake_B
and rec_B) and ``attn_mean_B``/``attn_tv_B`` (G_BA's, of fake_A and rec_A).
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from models.common import (GANModel, adam_kwargs, generator_flags, generator_outputs,  # noqa: F401 (imported from here)
                           loss_values, select_device, set_requires_grad, speed_settings)
from models.image_pool import ImagePool
from models.losses import attention_mean_loss, attention_tv_loss, cycle_loss, gradient_penalty, identity_loss
from models.networks import define_D, define_G

CLASSIC_NAMES = {"G_AB": "G_A", "G_BA": "G_B", "D_B": "D_A", "D_A": "D_B"}
LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")
ATTENTION_LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "attn_mean_A", "attn_tv_A",
                        "D_B", "G_B", "cycle_B", "idt_B", "attn_mean_B", "attn_tv_B")
# visuals(): the classic order, each fake followed by its attention map (--attention only)
DISPLAY_ORDER = ("real_A", "fake_B", "attn_B", "rec_A", "idt_B", "real_B", "fake_A", "attn_A", "rec_B", "idt_A")


def loss_names(attention: bool) -> tuple[str, ...]:
    """The loss keys a step reports, in log order (the classic eight without ``--attention``)."""
    return ATTENTION_LOSS_NAMES if attention else LOSS_NAMES


def map_to_image(alpha: torch.Tensor) -> torch.Tensor:
    """An attention map in [0, 1] as a grey picture in the images' [-1, 1] (white: alpha 1)."""
    return alpha.float() * 2 - 1


class CycleGANModel(GANModel):
    """The four networks, their optimizers and schedulers, and one training step.

    Device, runners, optimizers, schedulers and checkpoints come from :class:`models.common.GANModel`.
    """

    CLASSIC_NAMES = CLASSIC_NAMES
    GENERATOR_FILES = ("G_A", "G_B")

    def __init__(self, opt: argparse.Namespace, device: torch.device | None = None, ddp: bool = False):
        super().__init__(opt, device)
        self.attention = getattr(opt, "attention", False)
        self.loss_names = loss_names(self.attention)
        self.setup_networks(self.build_networks(opt), ddp)
        self.G_AB, self.G_BA = self.nets["G_AB"], self.nets["G_BA"]
        if self.is_train:
            self.D_B, self.D_A = self.nets["D_B"], self.nets["D_A"]
            self.pool_fake_B = ImagePool(opt.pool_size, seed=self.pool_seed(1))
            self.pool_fake_A = ImagePool(opt.pool_size, seed=self.pool_seed(2))
            self.setup_training({"pool_fake_A": self.pool_fake_A, "pool_fake_B": self.pool_fake_B})

    @staticmethod
    def build_networks(opt: argparse.Namespace) -> dict[str, nn.Module]:
        """G_AB and G_BA, and for training D_B and D_A, initialised on the current default device
        (:mod:`models.memory` builds them on the meta device to size them)."""
        g_args = dict(ngf=opt.ngf, norm=opt.norm, use_dropout=not opt.no_dropout,
                      init_type=opt.init_type, init_gain=opt.init_gain, attention=getattr(opt, "attention", False))
        nets = {"G_AB": define_G(opt.netG, opt.input_nc, opt.output_nc, **g_args),
                "G_BA": define_G(opt.netG, opt.output_nc, opt.input_nc, **g_args)}
        if opt.isTrain:
            d_args = dict(ndf=opt.ndf, n_layers_D=opt.n_layers_D, norm=opt.norm,
                          init_type=opt.init_type, init_gain=opt.init_gain)
            nets["D_B"] = define_D(opt.netD, opt.output_nc, **d_args)
            nets["D_A"] = define_D(opt.netD, opt.input_nc, **d_args)
        return nets

    # ----------------------------------------------------------------------------------------- #
    # Training
    # ----------------------------------------------------------------------------------------- #

    def forward(self) -> None:
        """Translate both ways and back (and, with identity loss, each generator on its own domain)."""
        G_AB, G_BA = self.runners["G_AB"], self.runners["G_BA"]
        identity = self.is_train and self.opt.lambda_identity > 0
        if self.speed["stack_passes"]:
            self._stacked_forward(G_AB, G_BA, identity)
            return
        self.fake_B, self.attn_B = self._call(G_AB, self.real_A)
        self.rec_A, self.attn_rec_A = self._call(G_BA, self.fake_B)
        self.fake_A, self.attn_A = self._call(G_BA, self.real_B)
        self.rec_B, self.attn_rec_B = self._call(G_AB, self.fake_A)
        if identity:
            self.idt_A = self._call(G_AB, self.real_B)[0]
            self.idt_B = self._call(G_BA, self.real_A)[0]

    def _call(self, G: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return generator_outputs(G(images), self.attention)

    def _stacked_forward(self, G_AB: nn.Module, G_BA: nn.Module, identity: bool) -> None:
        """The same six (or four) translations in three calls: G_AB on [A; B], G_BA on [B; A; fake_B]
        (rec_A needs fake_B, which the first call made), G_AB on fake_A. Per-image norms keep the math."""
        n = self.real_A.size(0)
        out, alpha = self._call(G_AB, torch.cat([self.real_A, self.real_B]) if identity else self.real_A)
        self.fake_B = out[:n]
        parts = [self.real_B, self.real_A, self.fake_B] if identity else [self.real_B, self.fake_B]
        out_BA, alpha_BA = self._call(G_BA, torch.cat(parts))
        self.fake_A, self.rec_A = out_BA[:n], out_BA[-n:]
        self.rec_B, self.attn_rec_B = self._call(G_AB, self.fake_A)
        if self.attention:
            self.attn_B, self.attn_A, self.attn_rec_A = alpha[:n], alpha_BA[:n], alpha_BA[-n:]
        if identity:
            self.idt_A, self.idt_B = out[n:], out_BA[n:2 * n]

    def attention_losses(self) -> dict[str, torch.Tensor]:
        """The regularisers of each generator's two maps of the cycle: G_AB's of fake_B and rec_B
        (``attn_*_A``), G_BA's of fake_A and rec_A (``attn_*_B``)."""
        opt = self.opt
        maps = {"A": torch.cat([self.attn_B, self.attn_rec_B]), "B": torch.cat([self.attn_A, self.attn_rec_A])}
        losses = {}
        for side, alpha in maps.items():
            losses[f"attn_mean_{side}"] = attention_mean_loss(alpha, opt.lambda_attn_mean)
            losses[f"attn_tv_{side}"] = attention_tv_loss(alpha, opt.lambda_attn_tv)
        return losses

    def discriminator_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Average of D's losses on a real and a (pooled, detached) fake batch, plus the WGAN-GP term."""
        netD, fake = self.runners[name], fake.detach()
        if self.speed["stack_passes"]:
            pred_real, pred_fake = netD(torch.cat([real, fake])).chunk(2)
        else:
            pred_real, pred_fake = netD(real), netD(fake)
        loss = 0.5 * (self.gan_loss(pred_real, True) + self.gan_loss(pred_fake, False))
        if self.opt.gan_mode == "wgangp":
            with torch.autocast(self.device.type, enabled=False):  # second-order terms in fp32
                penalty = gradient_penalty(self.frozen_D[name], real.float(), fake.float(), weight=self.opt.lambda_gp)
            loss = loss + penalty
        return loss

    def optimize_parameters(self) -> dict[str, torch.Tensor]:
        """One step: translate both ways, update the generators with D frozen, then update D.

        Returns the losses as detached 0-dim tensors (``loss_values`` reads them as floats), so a
        step never waits for the GPU just to report.
        """
        opt, scaler = self.opt, self.scaler
        with self.autocast():
            self.forward()

        set_requires_grad([self.D_B, self.D_A], False)
        self.optimizer_G.zero_grad(set_to_none=True)
        with self.autocast():
            losses = {
                "G_A": self.gan_loss(self.frozen_D["D_B"](self.fake_B), True),
                "G_B": self.gan_loss(self.frozen_D["D_A"](self.fake_A), True),
                "cycle_A": cycle_loss(self.rec_A, self.real_A, opt.lambda_A),
                "cycle_B": cycle_loss(self.rec_B, self.real_B, opt.lambda_B),
            }
            if opt.lambda_identity > 0:
                losses["idt_A"] = identity_loss(self.idt_A, self.real_B, opt.lambda_B * opt.lambda_identity)
                losses["idt_B"] = identity_loss(self.idt_B, self.real_A, opt.lambda_A * opt.lambda_identity)
            if self.attention:
                losses.update(self.attention_losses())
        scaler.scale(sum(losses.values())).backward()
        skipped_G = self._step(self.optimizer_G)

        set_requires_grad([self.D_B, self.D_A], True)
        self.optimizer_D.zero_grad(set_to_none=True)
        with self.autocast():
            losses["D_A"] = self.discriminator_loss("D_B", self.real_B, self.pool_fake_B.query(self.fake_B))
            losses["D_B"] = self.discriminator_loss("D_A", self.real_A, self.pool_fake_A.query(self.fake_A))
        scaler.scale(losses["D_A"] + losses["D_B"]).backward()
        skipped_D = self._step(self.optimizer_D)
        scaler.update()
        self.skipped_step = skipped_G or skipped_D

        if opt.lambda_identity <= 0:
            zero = torch.zeros((), device=self.device)
            losses.update(idt_A=zero, idt_B=zero)
        return {name: losses[name].detach() for name in self.loss_names}

    def visuals(self) -> dict[str, torch.Tensor]:
        """The current images, in the classic display order; with --attention each fake is followed by
        its map as a grey picture (white: the generator's content, black: the input kept)."""
        left_out = set() if self.is_train and self.opt.lambda_identity > 0 else {"idt_A", "idt_B"}
        if not self.attention:
            left_out |= {"attn_A", "attn_B"}
        names = [n for n in DISPLAY_ORDER if n not in left_out and getattr(self, n, None) is not None]
        return {n: map_to_image(getattr(self, n).detach()) if n.startswith("attn")
                else getattr(self, n).detach().float() for n in names}

    # ----------------------------------------------------------------------------------------- #
    # Inference
    # ----------------------------------------------------------------------------------------- #

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        """A batch of domain-A images (direction "AtoB") or B images ("BtoA") and its round trip.

        Images are in [-1, 1]; with --attention the forward generator's map comes after the fake
        (``attn_B`` or ``attn_A``), one channel in [0, 1].
        """
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        G_AB, G_BA = self.runners["G_AB"], self.runners["G_BA"]
        forward, back = (G_AB, G_BA) if direction == "AtoB" else (G_BA, G_AB)
        with self.autocast():
            fake, alpha = self._call(forward, images)
            rec = self._call(back, fake)[0]
        real, fake_name, rec_name, map_name = (("real_A", "fake_B", "rec_A", "attn_B") if direction == "AtoB"
                                               else ("real_B", "fake_A", "rec_B", "attn_A"))
        out = {real: images, fake_name: fake.float()}
        if alpha is not None:
            out[map_name] = alpha.float()
        out[rec_name] = rec.float()
        return out
