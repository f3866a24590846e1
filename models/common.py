"""What the trainable models (``cycle_gan``, ``pix2pix``) share, so each model file holds only its
networks, its losses and its training step.

:class:`GANModel` owns the parts that do not depend on the paper: the device and the speed flags
(``--amp``, ``--channels_last``, ``--compile``, DDP/DataParallel runners), Adam for the generators
and for the discriminators, the learning-rate schedulers, the ``--nan_policy`` step, and
checkpoints: network files under their classic names and the training state that makes
``--continue_train`` exact (optimizers, schedulers, image pools, the fp16 gradient scaler).

A model sets ``CLASSIC_NAMES`` (its network names -> the classic file names), builds its networks,
hands them to :meth:`GANModel.setup_networks` and, for training, its image pools to
:meth:`GANModel.setup_training`; then it writes ``optimize_parameters``, ``visuals`` and
``translate``. Networks whose name starts with ``G`` are generators, with ``D`` discriminators.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from models import acceleration
from models.acceleration import unwrap
from models.image_pool import ImagePool
from models.losses import GANLoss
from models.schedulers import build_scheduler
from util.checkpoint import JOURNAL_SUFFIX, load_network, net_path, safe_load, save_together, state_path
from util.errors import UserError
from util.resilience import all_finite


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def loss_values(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """The step's loss tensors as floats, read from the device in one transfer."""
    values = torch.stack([v.float() for v in losses.values()]).tolist()
    return dict(zip(losses, values))


def speed_settings(opt: argparse.Namespace, device: torch.device | None = None) -> dict:
    """The speed flags of ``opt``, with the classic fp32 eager path for options that predate them.

    The precision is the one the entry point chose (``opt.amp_resolved``); options given straight to a
    model with ``--amp auto`` unsettled have it settled here for ``device``."""
    amp = getattr(opt, "amp_resolved", None) or getattr(opt, "amp", "none")
    if device is not None:
        amp = acceleration.resolve_amp(amp, device)
    return {"amp": amp, "channels_last": getattr(opt, "channels_last", False),
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


def discriminator_flags(opt: argparse.Namespace) -> str:
    return f"--netD {opt.netD} --ndf {opt.ndf} --n_layers_D {opt.n_layers_D} --norm {opt.norm}"


def generator_outputs(out, attention: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A generator call's (translation, alpha); alpha is None for a plain generator."""
    return out if attention else (out, None)


class GANModel:
    """Device, runners, optimizers, schedulers and checkpoints of a model with generators ``G*`` and
    discriminators ``D*`` (see the module docstring for what a subclass adds).

    ``self.nets`` holds the plain modules (optimized and saved); ``self.runners`` what the step
    calls (compiled and/or wrapped in DistributedDataParallel when ``ddp`` is set, as under torchrun,
    or DataParallel for several ``--gpu_ids`` in one process); ``self.frozen_D`` the discriminators
    without their DDP wrapper, for the generator step, where D's own parameters are frozen and DDP
    would wait for gradients that never come.
    """

    CLASSIC_NAMES: dict[str, str] = {}  # network name -> file name <label>_net_<classic>.pth
    GENERATOR_FILES: tuple[str, ...] = ()  # the classic names test.py loads

    def __init__(self, opt: argparse.Namespace, device: torch.device | None = None):
        self.opt = opt
        self.is_train = opt.isTrain
        self.device = device or select_device(getattr(opt, "gpu_id_list", []))
        self.speed = speed_settings(opt, self.device)
        if self.speed["stack_passes"] and opt.norm == "batch":
            raise UserError("--stack_passes with --norm batch would mix the statistics of the stacked images; "
                            "use --norm instance (or none), or drop --stack_passes")
        self.memory_format = acceleration.memory_format(self.speed["channels_last"])

    def setup_networks(self, nets: dict[str, nn.Module], ddp: bool) -> None:
        sync_bn = ddp and self.opt.norm == "batch" and self.device.type == "cuda"  # SyncBatchNorm is GPU-only
        self.nets: dict[str, nn.Module] = {
            name: acceleration.prepare(net, self.device, self.speed["channels_last"], sync_bn)
            for name, net in nets.items()}
        self.runners: dict[str, nn.Module] = {
            name: acceleration.runner(net, self.device, self.speed["compile"], ddp,
                                      getattr(self.opt, "gpu_id_list", []))
            for name, net in self.nets.items()}
        self.frozen_D = {name: acceleration.without_ddp(r) for name, r in self.runners.items() if name[0] == "D"}

    def pool_seed(self, k: int) -> int:
        """The seed of the model's ``k``-th image pool; each process of a DDP run keeps its own pool."""
        seed = self.opt.seed if self.opt.seed is not None else 0
        return seed + k + 1000 * getattr(self.opt, "rank", 0)

    def setup_training(self, pools: dict[str, ImagePool]) -> None:
        """The adversarial loss, one Adam for all generators and one for all discriminators (in
        ``self.nets`` order), the gradient scaler and the schedulers; ``pools`` by state-file key."""
        opt = self.opt
        self.pools = pools
        self.gan_loss = GANLoss(opt.gan_mode)
        betas, adam = (opt.beta1, 0.999), adam_kwargs(self.speed["adam_impl"])
        params = {kind: [p for name, net in self.nets.items() if name[0] == kind for p in net.parameters()]
                  for kind in "GD"}
        self.optimizer_G = torch.optim.Adam(params["G"], lr=opt.lr, betas=betas, **adam)
        self.optimizer_D = torch.optim.Adam(params["D"], lr=opt.lr, betas=betas, **adam)
        self.scaler = acceleration.grad_scaler(self.device, self.speed["amp"])
        self.nan_policy = getattr(opt, "nan_policy", "stop")
        self.skipped_step = False
        self.first_epoch = opt.epoch_count
        self.build_schedulers()

    def build_schedulers(self) -> None:
        """Schedulers for both optimizers; their rate is a function of the run's first epoch."""
        opt = self.opt
        sched = dict(policy=opt.lr_policy, first_epoch=self.first_epoch, n_epochs=opt.n_epochs,
                     n_epochs_decay=opt.n_epochs_decay, lr_decay_iters=opt.lr_decay_iters)
        self.scheduler_G = build_scheduler(self.optimizer_G, **sched)
        self.scheduler_D = build_scheduler(self.optimizer_D, **sched)

    def autocast(self):
        return acceleration.autocast(self.device, self.speed["amp"])

    # ----------------------------------------------------------------------------------------- #
    # Training
    # ----------------------------------------------------------------------------------------- #

    def set_input(self, batch: dict) -> None:
        """``real_A`` is the model's input domain: the batch's A, or its B with ``--direction BtoA``."""
        a_key, b_key = ("A", "B") if self.opt.direction == "AtoB" else ("B", "A")
        self.real_A = batch[a_key].to(self.device, non_blocking=True, memory_format=self.memory_format)
        self.real_B = batch[b_key].to(self.device, non_blocking=True, memory_format=self.memory_format)

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

    def eval(self) -> None:
        for net in self.nets.values():
            net.eval()

    # ----------------------------------------------------------------------------------------- #
    # Checkpoints
    # ----------------------------------------------------------------------------------------- #

    def save(self, folder: str | Path, label: str, train_state: dict | None = None) -> None:
        """Write every network (unwrapped, on the CPU) and, for training, the training state, as one checkpoint."""
        files = {}
        for name, net in self.nets.items():
            state = {k: v.detach().cpu().contiguous() for k, v in unwrap(net).state_dict().items()}
            files[net_path(folder, label, self.CLASSIC_NAMES[name])] = state
        if train_state is not None:
            files[state_path(folder, label)] = self.training_state() | train_state
        save_together(files, journal_name=f".{label}{JOURNAL_SUFFIX}")

    def load(self, folder: str | Path, label: str, names: list[str] | None = None) -> None:
        """Load ``names`` (default: every network the model has) from ``<label>_net_<classic>.pth``."""
        for name in names or list(self.nets):
            net = unwrap(self.nets[name])
            flags = generator_flags(self.opt) if name.startswith("G") else discriminator_flags(self.opt)
            load_network(net, net_path(folder, label, self.CLASSIC_NAMES[name]), flags)
            net.to(self.device)

    def training_state(self) -> dict:
        return {
            "optimizer_G": self.optimizer_G.state_dict(),
            "optimizer_D": self.optimizer_D.state_dict(),
            "scheduler_G": self.scheduler_G.state_dict(),
            "scheduler_D": self.scheduler_D.state_dict(),
            **{key: pool.state_dict() for key, pool in self.pools.items()},
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
            self.build_schedulers()
            if state["options"].get("lr_policy") != self.opt.lr_policy:
                raise UserError(f"--lr_policy {self.opt.lr_policy} differs from the saved run's "
                                f"{state['options'].get('lr_policy')}: keep the run's policy to resume it")
            self.scheduler_G.load_state_dict(state["scheduler_G"])
            self.scheduler_D.load_state_dict(state["scheduler_D"])
            self.optimizer_G.load_state_dict(state["optimizer_G"])
            self.optimizer_D.load_state_dict(state["optimizer_D"])
            self._follow_schedule()
            for key, pool in self.pools.items():
                pool.load_state_dict(state[key], self.device)
            # Speed flags are chosen per launch: an fp16 run may resume in bf16 and the other way round.
            if state.get("grad_scaler") and self.scaler.is_enabled():
                self.scaler.load_state_dict(state["grad_scaler"])
        except (KeyError, ValueError, RuntimeError) as err:
            raise UserError(f"{path} does not match this run ({err}); was it written by another "
                            "version or architecture? start a new --name or drop --continue_train") from err
        return state

    def _follow_schedule(self) -> None:
        """Set the rate from this run's schedule flags, so a run extended with a larger
        --n_epochs_decay continues on the new line instead of the saved (shorter) one."""
        for optimizer, scheduler in ((self.optimizer_G, self.scheduler_G), (self.optimizer_D, self.scheduler_D)):
            if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
                for group, base, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                    group["lr"] = base * fn(scheduler.last_epoch)
                scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
