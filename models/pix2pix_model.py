"""pix2pix (Isola et al. 2017): one generator and a conditional discriminator, trained on aligned pairs.

``G`` translates ``real_A`` into ``fake_B``. ``D`` is a PatchGAN that sees a pair, the input and an
output stacked on the channels (``input_nc + output_nc``), so it judges whether B fits its A, not
only whether B looks real. With this repository's data, ``--direction AtoB`` puts masks on and
``BtoA`` takes them off; as in the classic code, ``real_A`` is always the model's input (the right
half of an AB image with BtoA) and ``real_B`` its target.

Loss keys, as in the classic loss_log.txt:

- ``G_GAN``: D(cat(real_A, fake_B)) judged "real" (the generator's side of eq. 1);
- ``G_L1``: ``lambda_L1`` * mean |fake_B - real_B| (eq. 3);
- ``D_real``, ``D_fake``: D on (real_A, real_B) judged real and on (real_A, fake_B) judged fake;
  D minimises 0.5 * (D_real + D_fake) (plus the WGAN-GP term with ``--gan_mode wgangp``).

A step follows the classic order: D first, then G against the updated D. Files are the classic
``<label>_net_G.pth`` and ``<label>_net_D.pth``. ``--pool_size`` (0 by default for pix2pix, as in the
classic code, which has no pool) keeps earlier fake pairs for D as CycleGAN's pool does.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from models.common import GANModel, set_requires_grad
from models.image_pool import ImagePool
from models.losses import gradient_penalty, paired_l1_loss
from models.networks import define_D, define_G

LOSS_NAMES = ("G_GAN", "G_L1", "D_real", "D_fake")
DISPLAY_ORDER = ("real_A", "fake_B", "real_B")


class Pix2PixModel(GANModel):
    """G, the conditional D, their optimizers and schedulers, and one training step.

    Device, runners, optimizers, schedulers and checkpoints come from :class:`models.common.GANModel`.
    """

    CLASSIC_NAMES = {"G": "G", "D": "D"}
    GENERATOR_FILES = ("G",)
    loss_names = LOSS_NAMES

    def __init__(self, opt: argparse.Namespace, device: torch.device | None = None, ddp: bool = False):
        super().__init__(opt, device)
        self.setup_networks(self.build_networks(opt), ddp)
        self.G = self.nets["G"]
        if self.is_train:
            self.D = self.nets["D"]
            self.pool_fake_AB = ImagePool(opt.pool_size, seed=self.pool_seed(1))
            self.setup_training({"pool_fake_AB": self.pool_fake_AB})

    @staticmethod
    def build_networks(opt: argparse.Namespace) -> dict[str, nn.Module]:
        """G, and for training D (which sees A and B side by side), initialised on the current default
        device (:mod:`models.memory` builds them on the meta device to size them)."""
        nets = {"G": define_G(opt.netG, opt.input_nc, opt.output_nc, ngf=opt.ngf, norm=opt.norm,
                              use_dropout=not opt.no_dropout, init_type=opt.init_type, init_gain=opt.init_gain)}
        if opt.isTrain:
            nets["D"] = define_D(opt.netD, opt.input_nc + opt.output_nc, ndf=opt.ndf, n_layers_D=opt.n_layers_D,
                                 norm=opt.norm, init_type=opt.init_type, init_gain=opt.init_gain)
        return nets

    # ----------------------------------------------------------------------------------------- #
    # Training
    # ----------------------------------------------------------------------------------------- #

    def forward(self) -> None:
        self.fake_B = self.runners["G"](self.real_A)

    def discriminator_losses(self, fake_AB: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """D's losses on the real pair and on a (pooled, detached) fake pair, and D's objective:
        their mean, plus the WGAN-GP term."""
        netD, real_AB = self.runners["D"], torch.cat([self.real_A, self.real_B], 1)
        if self.speed["stack_passes"]:
            pred_real, pred_fake = netD(torch.cat([real_AB, fake_AB])).chunk(2)
        else:
            pred_fake, pred_real = netD(fake_AB), netD(real_AB)
        losses = {"D_real": self.gan_loss(pred_real, True), "D_fake": self.gan_loss(pred_fake, False)}
        objective = 0.5 * (losses["D_real"] + losses["D_fake"])
        if self.opt.gan_mode == "wgangp":
            with torch.autocast(self.device.type, enabled=False):  # second-order terms in fp32
                objective = objective + gradient_penalty(self.frozen_D["D"], real_AB.float(), fake_AB.float(),
                                                         weight=self.opt.lambda_gp)
        return losses, objective

    def optimize_parameters(self) -> dict[str, torch.Tensor]:
        """One step: translate, update D on the real and the fake pair, then update G with D frozen.

        Returns the losses as detached 0-dim tensors (``loss_values`` reads them as floats), so a
        step never waits for the GPU just to report.
        """
        with self.autocast():
            self.forward()
            fake_AB = torch.cat([self.real_A, self.fake_B], 1)

        set_requires_grad([self.D], True)
        self.optimizer_D.zero_grad(set_to_none=True)
        with self.autocast():
            losses, objective_D = self.discriminator_losses(self.pool_fake_AB.query(fake_AB.detach()))
        self.scaler.scale(objective_D).backward()
        skipped_D = self._step(self.optimizer_D)

        set_requires_grad([self.D], False)
        self.optimizer_G.zero_grad(set_to_none=True)
        with self.autocast():
            losses["G_GAN"] = self.gan_loss(self.frozen_D["D"](fake_AB), True)
            losses["G_L1"] = paired_l1_loss(self.fake_B, self.real_B, self.opt.lambda_L1)
        self.scaler.scale(losses["G_GAN"] + losses["G_L1"]).backward()
        skipped_G = self._step(self.optimizer_G)
        self.scaler.update()
        self.skipped_step = skipped_D or skipped_G
        return {name: losses[name].detach() for name in self.loss_names}

    def visuals(self) -> dict[str, torch.Tensor]:
        """The current input, translation and target, in the classic order."""
        return {n: getattr(self, n).detach().float() for n in DISPLAY_ORDER if getattr(self, n, None) is not None}

    # ----------------------------------------------------------------------------------------- #
    # Inference
    # ----------------------------------------------------------------------------------------- #

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str | None = None) -> dict[str, torch.Tensor]:
        """``real_A`` (the input half, whichever --direction made it) and G's ``fake_B``, in [-1, 1]."""
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        with self.autocast():
            fake = self.runners["G"](images)
        return {"real_A": images, "fake_B": fake.float()}
