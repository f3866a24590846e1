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
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch
from torch import nn

from models.image_pool import ImagePool
from models.losses import GANLoss, cycle_loss, gradient_penalty, identity_loss
from models.networks import define_D, define_G
from models.schedulers import build_scheduler
from util.checkpoint import atomic_save, load_network, net_path, safe_load, state_path
from util.errors import UserError

CLASSIC_NAMES = {"G_AB": "G_A", "G_BA": "G_B", "D_B": "D_A", "D_A": "D_B"}
LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside a DataParallel/DDP wrapper (checkpoints are saved unwrapped)."""
    return net.module if isinstance(net, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else net


def select_device(gpu_ids: list[int]) -> torch.device:
    if gpu_ids and torch.cuda.is_available():
        torch.cuda.set_device(gpu_ids[0])
        return torch.device(f"cuda:{gpu_ids[0]}")
    return torch.device("cpu")


def generator_flags(opt: argparse.Namespace) -> str:
    return (f"--netG {opt.netG} --ngf {opt.ngf} --norm {opt.norm} "
            f"{'--no_dropout' if opt.no_dropout else '(dropout on)'}")


class CycleGANModel:
    def __init__(self, opt: argparse.Namespace, device: torch.device | None = None):
        self.opt = opt
        self.is_train = opt.isTrain
        self.device = device or select_device(getattr(opt, "gpu_id_list", []))
        g_args = dict(ngf=opt.ngf, norm=opt.norm, use_dropout=not opt.no_dropout,
                      init_type=opt.init_type, init_gain=opt.init_gain)
        self.nets: dict[str, nn.Module] = {
            "G_AB": define_G(opt.netG, opt.input_nc, opt.output_nc, **g_args),
            "G_BA": define_G(opt.netG, opt.output_nc, opt.input_nc, **g_args),
        }
        if self.is_train:
            d_args = dict(ndf=opt.ndf, n_layers_D=opt.n_layers_D, norm=opt.norm,
                          init_type=opt.init_type, init_gain=opt.init_gain)
            self.nets["D_B"] = define_D(opt.netD, opt.output_nc, **d_args)
            self.nets["D_A"] = define_D(opt.netD, opt.input_nc, **d_args)
        for name, net in self.nets.items():
            net.to(self.device)
            if len(getattr(opt, "gpu_id_list", [])) > 1 and self.device.type == "cuda":
                self.nets[name] = nn.DataParallel(net, opt.gpu_id_list)
        self.G_AB, self.G_BA = self.nets["G_AB"], self.nets["G_BA"]

        if self.is_train:
            self.D_B, self.D_A = self.nets["D_B"], self.nets["D_A"]
            seed = opt.seed if opt.seed is not None else 0
            self.pool_fake_B = ImagePool(opt.pool_size, seed=seed + 1)
            self.pool_fake_A = ImagePool(opt.pool_size, seed=seed + 2)
            self.gan_loss = GANLoss(opt.gan_mode)
            betas = (opt.beta1, 0.999)
            self.optimizer_G = torch.optim.Adam(
                itertools.chain(self.G_AB.parameters(), self.G_BA.parameters()), lr=opt.lr, betas=betas)
            self.optimizer_D = torch.optim.Adam(
                itertools.chain(self.D_B.parameters(), self.D_A.parameters()), lr=opt.lr, betas=betas)
            sched = dict(policy=opt.lr_policy, first_epoch=opt.epoch_count, n_epochs=opt.n_epochs,
                         n_epochs_decay=opt.n_epochs_decay, lr_decay_iters=opt.lr_decay_iters)
            self.first_epoch = opt.epoch_count
            self.scheduler_G = build_scheduler(self.optimizer_G, **sched)
            self.scheduler_D = build_scheduler(self.optimizer_D, **sched)

    # ----------------------------------------------------------------------------------------- #
    # Training
    # ----------------------------------------------------------------------------------------- #

    def set_input(self, batch: dict) -> None:
        a_key, b_key = ("A", "B") if self.opt.direction == "AtoB" else ("B", "A")
        self.real_A = batch[a_key].to(self.device, non_blocking=True)
        self.real_B = batch[b_key].to(self.device, non_blocking=True)

    def forward(self) -> None:
        self.fake_B = self.G_AB(self.real_A)
        self.rec_A = self.G_BA(self.fake_B)
        self.fake_A = self.G_BA(self.real_B)
        self.rec_B = self.G_AB(self.fake_A)

    def discriminator_loss(self, netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Average of D's losses on a real and a (pooled, detached) fake batch, plus the WGAN-GP term."""
        loss = 0.5 * (self.gan_loss(netD(real), True) + self.gan_loss(netD(fake.detach()), False))
        if self.opt.gan_mode == "wgangp":
            loss = loss + gradient_penalty(netD, real, fake, weight=self.opt.lambda_gp)
        return loss

    def optimize_parameters(self) -> dict[str, float]:
        """One step: translate both ways, update the generators with D frozen, then update D."""
        opt = self.opt
        self.forward()

        set_requires_grad([self.D_B, self.D_A], False)
        self.optimizer_G.zero_grad(set_to_none=True)
        losses = {
            "G_A": self.gan_loss(self.D_B(self.fake_B), True),
            "G_B": self.gan_loss(self.D_A(self.fake_A), True),
            "cycle_A": cycle_loss(self.rec_A, self.real_A, opt.lambda_A),
            "cycle_B": cycle_loss(self.rec_B, self.real_B, opt.lambda_B),
        }
        if opt.lambda_identity > 0:
            self.idt_A = self.G_AB(self.real_B)
            self.idt_B = self.G_BA(self.real_A)
            losses["idt_A"] = identity_loss(self.idt_A, self.real_B, opt.lambda_B * opt.lambda_identity)
            losses["idt_B"] = identity_loss(self.idt_B, self.real_A, opt.lambda_A * opt.lambda_identity)
        sum(losses.values()).backward()
        self.optimizer_G.step()

        set_requires_grad([self.D_B, self.D_A], True)
        self.optimizer_D.zero_grad(set_to_none=True)
        losses["D_A"] = self.discriminator_loss(self.D_B, self.real_B, self.pool_fake_B.query(self.fake_B))
        losses["D_B"] = self.discriminator_loss(self.D_A, self.real_A, self.pool_fake_A.query(self.fake_A))
        (losses["D_A"] + losses["D_B"]).backward()
        self.optimizer_D.step()

        values = {name: float(losses[name].detach()) for name in LOSS_NAMES if name in losses}
        if opt.lambda_identity <= 0:
            values.update(idt_A=0.0, idt_B=0.0)
        return {name: values[name] for name in LOSS_NAMES}

    def visuals(self) -> dict[str, torch.Tensor]:
        """The current images, in the classic display order."""
        names = ["real_A", "fake_B", "rec_A"]
        if self.is_train and self.opt.lambda_identity > 0:
            names.append("idt_B")
        names += ["real_B", "fake_A", "rec_B"]
        if self.is_train and self.opt.lambda_identity > 0:
            names.append("idt_A")
        return {n: getattr(self, n).detach() for n in names if hasattr(self, n)}

    def update_learning_rate(self, epoch_loss: float | None = None) -> float:
        """Step both schedulers at the end of an epoch; returns the new learning rate."""
        for scheduler in (self.scheduler_G, self.scheduler_D):
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(epoch_loss if epoch_loss is not None else 0.0)
            else:
                scheduler.step()
        return self.current_lr()

    def current_lr(self) -> float:
        return self.optimizer_G.param_groups[0]["lr"]

    # ----------------------------------------------------------------------------------------- #
    # Inference
    # ----------------------------------------------------------------------------------------- #

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
        """A batch of domain-A images (direction "AtoB") or B images ("BtoA") and its round trip."""
        images = images.to(self.device, non_blocking=True)
        if direction == "AtoB":
            fake = self.G_AB(images)
            return {"real_A": images, "fake_B": fake, "rec_A": self.G_BA(fake)}
        fake = self.G_BA(images)
        return {"real_B": images, "fake_A": fake, "rec_B": self.G_AB(fake)}

    def eval(self) -> None:
        for net in self.nets.values():
            net.eval()

    # ----------------------------------------------------------------------------------------- #
    # Checkpoints
    # ----------------------------------------------------------------------------------------- #

    def save(self, folder: str | Path, label: str, train_state: dict | None = None) -> None:
        """Write every network (unwrapped, on the CPU) and, for training, the training state."""
        for name, net in self.nets.items():
            state = {k: v.detach().cpu() for k, v in unwrap(net).state_dict().items()}
            atomic_save(state, net_path(folder, label, CLASSIC_NAMES[name]))
        if train_state is not None:
            atomic_save(self.training_state() | train_state, state_path(folder, label))

    def load(self, folder: str | Path, label: str, names: list[str] | None = None) -> None:
        for name in names or list(self.nets):
            net = unwrap(self.nets[name])
            if name.startswith("G"):
                flags = generator_flags(self.opt)
            else:
                flags = (f"--netD {self.opt.netD} --ndf {self.opt.ndf} --n_layers_D {self.opt.n_layers_D} "
                         f"--norm {self.opt.norm}")
            load_network(net, net_path(folder, label, CLASSIC_NAMES[name]), flags)
            net.to(self.device)

    def training_state(self) -> dict:
        return {
            "optimizer_G": self.optimizer_G.state_dict(),
            "optimizer_D": self.optimizer_D.state_dict(),
            "scheduler_G": self.scheduler_G.state_dict(),
            "scheduler_D": self.scheduler_D.state_dict(),
            "pool_fake_A": self.pool_fake_A.state_dict(),
            "pool_fake_B": self.pool_fake_B.state_dict(),
            "first_epoch": self.first_epoch,
        }

    def load_training_state(self, folder: str | Path, label: str) -> dict:
        """Restore optimizers, schedulers and pools; returns the whole state (counters included)."""
        path = state_path(folder, label)
        state = safe_load(path, map_location=self.device)
        try:
            # The schedulers' rate is a function of the run's first epoch, not of this resume's.
            self.first_epoch = state["first_epoch"]
            sched = dict(policy=self.opt.lr_policy, first_epoch=self.first_epoch, n_epochs=self.opt.n_epochs,
                         n_epochs_decay=self.opt.n_epochs_decay, lr_decay_iters=self.opt.lr_decay_iters)
            self.scheduler_G = build_scheduler(self.optimizer_G, **sched)
            self.scheduler_D = build_scheduler(self.optimizer_D, **sched)
            if state["options"].get("lr_policy") != self.opt.lr_policy:
                raise UserError(f"--lr_policy {self.opt.lr_policy} differs from the saved run's "
                                f"{state['options'].get('lr_policy')}: keep the run's policy to resume it")
            self.scheduler_G.load_state_dict(state["scheduler_G"])
            self.scheduler_D.load_state_dict(state["scheduler_D"])
            self.optimizer_G.load_state_dict(state["optimizer_G"])
            self.optimizer_D.load_state_dict(state["optimizer_D"])
            # The rate follows this run's schedule flags, so a run extended with a larger
            # --n_epochs_decay continues on the new line instead of the saved (shorter) one.
            for optimizer, scheduler in ((self.optimizer_G, self.scheduler_G), (self.optimizer_D, self.scheduler_D)):
                if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
                    for group, base, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                        group["lr"] = base * fn(scheduler.last_epoch)
                    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
            self.pool_fake_A.load_state_dict(state["pool_fake_A"], self.device)
            self.pool_fake_B.load_state_dict(state["pool_fake_B"], self.device)
        except (KeyError, ValueError, RuntimeError) as err:
            raise UserError(f"{path} does not match this run ({err}); was it written by another "
                            "version or architecture? start a new --name or drop --continue_train") from err
        return state
