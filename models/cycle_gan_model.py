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
import itertools
from pathlib import Path

import torch
from torch import nn

from models import acceleration
from models.acceleration import unwrap
from models.image_pool import ImagePool
from models.losses import (GANLoss, attention_mean_loss, attention_tv_loss, cycle_loss, gradient_penalty,
                           identity_loss)
from models.networks import define_D, define_G
from models.schedulers import build_scheduler
from util.checkpoint import JOURNAL_SUFFIX, load_network, net_path, safe_load, save_together, state_path
from util.errors import UserError
from util.resilience import all_finite

CLASSIC_NAMES = {"G_AB": "G_A", "G_BA": "G_B", "D_B": "D_A", "D_A": "D_B"}
LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")
ATTENTION_LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "attn_mean_A", "attn_tv_A",
                        "D_B", "G_B", "cycle_B", "idt_B", "attn_mean_B", "attn_tv_B")
# visuals(): the classic order, each fake followed by its attention map (--attention only)
DISPLAY_ORDER = ("real_A", "fake_B", "attn_B", "rec_A", "idt_B", "real_B", "fake_A", "attn_A", "rec_B", "idt_A")


def loss_names(attention: bool) -> tuple[str, ...]:
    """The loss keys a step reports, in log order (the classic eight without ``--attention``)."""
    return ATTENTION_LOSS_NAMES if attention else LOSS_NAMES


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def loss_values(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """The step's loss tensors as floats, read from the device in one transfer."""
    values = torch.stack([v.float() for v in losses.values()]).tolist()
    return dict(zip(losses, values))


def speed_settings(opt: argparse.Namespace) -> dict:
    """The speed flags of ``opt``, with the classic fp32 eager path for options that predate them."""
    return {"amp": getattr(opt, "amp", "none"), "channels_last": getattr(opt, "channels_last", False),
            "compile": getattr(opt, "compile", False), "stack_passes": getattr(opt, "stack_passes", False),
            "adam_impl": getattr(opt, "adam_impl", "auto")}


def adam_kwargs(impl: str) -> dict:
    return {"auto": {}, "for_loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[impl]


def select_device(gpu_ids: list[int]) -> torch.device:
    if gpu_ids and torch.cuda.is_available():
        torch.cuda.set_device(gpu_ids[0])
        return torch.device(f"cuda:{gpu_ids[0]}")
    return torch.device("cpu")


def generator_flags(opt: argparse.Namespace) -> str:
    return (f"--netG {opt.netG} --ngf {opt.ngf} --norm {opt.norm} "
            f"{'--no_dropout' if opt.no_dropout else '(dropout on)'}"
            f"{' --attention' if getattr(opt, 'attention', False) else ''}")


def generator_outputs(out, attention: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A generator call's (translation, alpha); alpha is None for a plain generator."""
    return out if attention else (out, None)


def map_to_image(alpha: torch.Tensor) -> torch.Tensor:
    """An attention map in [0, 1] as a grey picture in the images' [-1, 1] (white: alpha 1)."""
    return alpha.float() * 2 - 1


class CycleGANModel:
    """The four networks, their optimizers and schedulers, and one training step.

    ``self.nets`` holds the plain modules (optimized and saved); ``self.runners`` what the step
    calls (compiled and/or wrapped in DistributedDataParallel when ``ddp`` is set, as under torchrun,
    or DataParallel for several ``--gpu_ids`` in one process).
    """

    def __init__(self, opt: argparse.Namespace, device: torch.device | None = None, ddp: bool = False):
        self.opt = opt
        self.is_train = opt.isTrain
        self.device = device or select_device(getattr(opt, "gpu_id_list", []))
        self.speed = speed_settings(opt)
        if self.speed["stack_passes"] and opt.norm == "batch":
            raise UserError("--stack_passes with --norm batch would mix the statistics of the stacked images; "
                            "use --norm instance (or none), or drop --stack_passes")
        self.attention = getattr(opt, "attention", False)
        self.loss_names = loss_names(self.attention)
        g_args = dict(ngf=opt.ngf, norm=opt.norm, use_dropout=not opt.no_dropout,
                      init_type=opt.init_type, init_gain=opt.init_gain, attention=self.attention)
        nets = {"G_AB": define_G(opt.netG, opt.input_nc, opt.output_nc, **g_args),
                "G_BA": define_G(opt.netG, opt.output_nc, opt.input_nc, **g_args)}
        if self.is_train:
            d_args = dict(ndf=opt.ndf, n_layers_D=opt.n_layers_D, norm=opt.norm,
                          init_type=opt.init_type, init_gain=opt.init_gain)
            nets["D_B"] = define_D(opt.netD, opt.output_nc, **d_args)
            nets["D_A"] = define_D(opt.netD, opt.input_nc, **d_args)
        sync_bn = ddp and opt.norm == "batch" and self.device.type == "cuda"  # SyncBatchNorm is GPU-only
        self.nets: dict[str, nn.Module] = {
            name: acceleration.prepare(net, self.device, self.speed["channels_last"], sync_bn)
            for name, net in nets.items()}
        self.runners: dict[str, nn.Module] = {
            name: acceleration.runner(net, self.device, self.speed["compile"], ddp, getattr(opt, "gpu_id_list", []))
            for name, net in self.nets.items()}
        # In the generator step D only passes gradients back to the fakes, its own parameters are
        # frozen; DDP would wait for gradients that never come, so that call skips the DDP wrapper.
        self.frozen_D = {name: acceleration.without_ddp(r) for name, r in self.runners.items() if name[0] == "D"}
        self.G_AB, self.G_BA = self.nets["G_AB"], self.nets["G_BA"]
        self.memory_format = acceleration.memory_format(self.speed["channels_last"])

        if self.is_train:
            self.D_B, self.D_A = self.nets["D_B"], self.nets["D_A"]
            seed = opt.seed if opt.seed is not None else 0
            rank = getattr(opt, "rank", 0)  # each process of a DDP run keeps its own pool
            self.pool_fake_B = ImagePool(opt.pool_size, seed=seed + 1 + 1000 * rank)
            self.pool_fake_A = ImagePool(opt.pool_size, seed=seed + 2 + 1000 * rank)
            self.gan_loss = GANLoss(opt.gan_mode)
            betas = (opt.beta1, 0.999)
            adam = adam_kwargs(self.speed["adam_impl"])
            self.optimizer_G = torch.optim.Adam(
                itertools.chain(self.G_AB.parameters(), self.G_BA.parameters()), lr=opt.lr, betas=betas, **adam)
            self.optimizer_D = torch.optim.Adam(
                itertools.chain(self.D_B.parameters(), self.D_A.parameters()), lr=opt.lr, betas=betas, **adam)
            self.scaler = acceleration.grad_scaler(self.device, self.speed["amp"])
            self.nan_policy = getattr(opt, "nan_policy", "stop")
            self.skipped_step = False
            sched = dict(policy=opt.lr_policy, first_epoch=opt.epoch_count, n_epochs=opt.n_epochs,
                         n_epochs_decay=opt.n_epochs_decay, lr_decay_iters=opt.lr_decay_iters)
            self.first_epoch = opt.epoch_count
            self.scheduler_G = build_scheduler(self.optimizer_G, **sched)
            self.scheduler_D = build_scheduler(self.optimizer_D, **sched)

    def autocast(self):
        return acceleration.autocast(self.device, self.speed["amp"])

    # ----------------------------------------------------------------------------------------- #
    # Training
    # ----------------------------------------------------------------------------------------- #

    def set_input(self, batch: dict) -> None:
        a_key, b_key = ("A", "B") if self.opt.direction == "AtoB" else ("B", "A")
        self.real_A = batch[a_key].to(self.device, non_blocking=True, memory_format=self.memory_format)
        self.real_B = batch[b_key].to(self.device, non_blocking=True, memory_format=self.memory_format)

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

    def _step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Apply the gradients; with ``--nan_policy skip``, not when any is NaN/Inf (returns True then).

        The gradients are checked after DDP has averaged them, so every rank decides alike. Under
        fp16 the gradient scaler already skips such steps (and lowers its scale), so it decides.
        """
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        if self.nan_policy == "skip" and not self.scaler.is_enabled() and not all_finite(grads):
            optimizer.zero_grad(set_to_none=True)
            return True
        self.scaler.step(optimizer)
        return False

    def visuals(self) -> dict[str, torch.Tensor]:
        """The current images, in the classic display order; with --attention each fake is followed by
        its map as a grey picture (white: the generator's content, black: the input kept)."""
        left_out = set() if self.is_train and self.opt.lambda_identity > 0 else {"idt_A", "idt_B"}
        if not self.attention:
            left_out |= {"attn_A", "attn_B"}
        names = [n for n in DISPLAY_ORDER if n not in left_out and getattr(self, n, None) is not None]
        return {n: map_to_image(getattr(self, n).detach()) if n.startswith("attn")
                else getattr(self, n).detach().float() for n in names}

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

    def eval(self) -> None:
        for net in self.nets.values():
            net.eval()

    # ----------------------------------------------------------------------------------------- #
    # Checkpoints
    # ----------------------------------------------------------------------------------------- #

    def save(self, folder: str | Path, label: str, train_state: dict | None = None) -> None:
        """Write every network (unwrapped, on the CPU) and, for training, the training state."""
        files = {}
        for name, net in self.nets.items():
            state = {k: v.detach().cpu().contiguous() for k, v in unwrap(net).state_dict().items()}
            files[net_path(folder, label, CLASSIC_NAMES[name])] = state
        if train_state is not None:
            files[state_path(folder, label)] = self.training_state() | train_state
        save_together(files, journal_name=f".{label}{JOURNAL_SUFFIX}")

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
            "grad_scaler": self.scaler.state_dict(),
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
            # Speed flags are chosen per launch: an fp16 run may resume in bf16 and the other way round.
            if state.get("grad_scaler") and self.scaler.is_enabled():
                self.scaler.load_state_dict(state["grad_scaler"])
        except (KeyError, ValueError, RuntimeError) as err:
            raise UserError(f"{path} does not match this run ({err}); was it written by another "
                            "version or architecture? start a new --name or drop --continue_train") from err
        return state
