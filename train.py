"""Train a CycleGAN (unpaired: domain A, unmasked faces <-> domain B, masked faces) or a pix2pix
model (aligned A|B pairs, ``--model pix2pix``).

    python train.py --dataroot datasets/toyfaces --name toy --display_id 0 ...
    python train.py --dataroot datasets/masks_paired --name p2p --model pix2pix --display_id 0 ...
    torchrun --nproc_per_node 4 train.py --dataroot ... --name big --amp bf16 --channels_last

Takes the classic pytorch-CycleGAN-and-pix2pix flags. Launched by torchrun, every process trains
on its own share of each epoch (DistributedDataParallel: NCCL on GPUs, gloo on the CPU) and only
rank 0 prints, logs, saves and writes pages; ``--batch_size`` is per process.

Everything is checked and set up before the
loop (so a bad flag or folder fails before anything is written), then one loop trains, reports and
saves on its own intervals. ``--continue_train`` restores weights, optimizers, schedulers, image
pools and counters from ``<checkpoints_dir>/<name>/<epoch>_*`` and carries on from there.
"""
from __future__ import annotations

import contextlib
import random
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from data import close_loader, train_loader
from models import MODELS, acceleration, memory, other_model_hint
from models.common import loss_values
from models.networks import size_multiple
from options.base_options import (DISCRIMINATOR_FLAGS, GENERATOR_FLAGS, adopt_run_flags, check_size_fits_generator,
                                  load_run_options, save_options, usable_gpu_ids)
from options.train_options import attention_defaults, min_image_side, parse_train_options
from util import checkpoint, distributed, resilience
from util.checkpoint import net_path, state_path
from util.errors import UserError, run_cli
from util.visualizer import TrainingRecorder


def check_options(opt) -> None:
    """Contradictions the parser cannot see on its own."""
    if opt.preprocess in ("resize_and_crop", "scale_width_and_crop") and opt.crop_size > opt.load_size:
        raise UserError(f"--crop_size {opt.crop_size} is larger than --load_size {opt.load_size}: "
                        "the crop must fit inside the resized image")
    if opt.n_epochs + opt.n_epochs_decay < 1:
        raise UserError("--n_epochs plus --n_epochs_decay must be at least 1")
    check_size_fits_generator(opt)


def resume_point(opt, run_dir: Path, given: set[str]) -> str | None:
    """The checkpoint label to resume from, or None for a new run; adopts the run's architecture."""
    label = f"iter_{opt.load_iter}" if opt.load_iter > 0 else opt.epoch
    if not opt.continue_train:
        if any(run_dir.glob("*_net_G*.pth")):
            raise UserError(f"{run_dir} already holds checkpoints of a run named {opt.name!r}: pass "
                            "--continue_train to resume it, or choose another --name")
        return None
    first = net_path(run_dir, label, MODELS[opt.model].GENERATOR_FILES[0])
    if not first.is_file():
        raise UserError(f"--continue_train: no checkpoint {first}; check --name, --checkpoints_dir, --epoch and "
                        f"--load_iter{other_model_hint(run_dir, label, opt.model)}")
    run = load_run_options(run_dir)
    if run and run.get("model", "cycle_gan") != opt.model:
        raise UserError(f"--model {opt.model} contradicts {run_dir}/train_opt.json, which has model={run['model']}: "
                        f"pass --model {run['model']} to resume it")
    resumed = GENERATOR_FLAGS + DISCRIMINATOR_FLAGS + (("direction",) if opt.model == "pix2pix" else ())
    adopt_run_flags(opt, given, run, resumed, f"{run_dir}/train_opt.json")
    attention_defaults(opt, given)  # --attention may have come from the run just now
    if run and "seed" not in given and run.get("seed") is not None:
        opt.seed = run["seed"]
    return label


def generator_losses(names: tuple[str, ...]) -> list[str]:
    """The terms of the generators' objective (all but the discriminators'): G_A, G_B, cycle_*, idt_*,
    and attn_* with --attention (CycleGAN), G_GAN and G_L1 (pix2pix); their epoch mean drives
    --lr_policy plateau."""
    return [name for name in names if not name.startswith("D_")]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def crossed(total: int, step: int, freq: int) -> bool:
    """Whether the counter passed a multiple of ``freq`` in its last increment of ``step``."""
    return total // freq > (total - step) // freq


def main(argv: Sequence[str] | None = None) -> int:
    opt, given, parser = parse_train_options(argv)
    check_options(opt)
    opt.gpu_id_list = usable_gpu_ids(opt.gpu_ids, "train.py")
    if opt.compile and len(opt.gpu_id_list) > 1 and not distributed.launched_by_torchrun():
        raise UserError("--compile does not work with DataParallel over several --gpu_ids; start one "
                        f"process per GPU instead: torchrun --nproc_per_node {len(opt.gpu_id_list)} train.py ...")
    ctx = distributed.setup(opt.gpu_id_list)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(distributed.cleanup, ctx)
        return train(opt, given, parser, ctx, list(argv) if argv is not None else sys.argv[1:], cleanup)


def train(opt, given: set[str], parser, ctx: distributed.Context, argv: list[str],
          cleanup: contextlib.ExitStack) -> int:
    main_process = ctx.is_main
    say = print if main_process else (lambda *args, **kwargs: None)
    run_dir = Path(opt.checkpoints_dir) / opt.name
    if main_process:
        for action in checkpoint.recover(run_dir):  # a save that a kill interrupted: finish or undo it
            say(f"train.py: {run_dir}: {action}")
    distributed.barrier(ctx)
    resume_label = resume_point(opt, run_dir, given)
    if opt.seed is None:
        opt.seed = distributed.broadcast_object(ctx, random.SystemRandom().randrange(2**31))
    opt.rank, opt.world_size = ctx.rank, ctx.world_size
    seed_everything(opt.seed)
    # checks the data folders before anything is written
    loader, sampler = train_loader(opt, ctx, min_side=min_image_side(opt), size_multiple=size_multiple(opt.netG))
    cleanup.callback(close_loader, loader)  # its workers stop when training does, however it ends
    if opt.batch_size > sampler.num_samples:
        share = f" per process ({ctx.world_size} processes)" if ctx.distributed else ""
        raise UserError(f"--batch_size {opt.batch_size} is larger than the {sampler.num_samples} samples of an "
                        f"epoch{share}: lower --batch_size or add images")
    device = ctx.device
    # one precision for the whole run: rank 0's choice (its machine's), checked on every rank's device below
    opt.amp_resolved = distributed.broadcast_object(
        ctx, acceleration.choose_amp(opt.amp, device, lambda line: say(f"train.py: warning: {line}")))
    acceleration.check_amp(device, opt.amp_resolved)
    acceleration.configure_backends(device, opt.cudnn_benchmark)
    if ctx.distributed and opt.norm == "batch" and device.type == "cpu":
        say("train.py: note: SyncBatchNorm needs GPUs; on the CPU each process normalises its own batch")

    memory.check_fits(MODELS[opt.model], opt, device)  # milliseconds, where building could swap for minutes
    with memory.out_of_memory_as_user_error(f"building the networks on {device}",
                                            "lower --ngf and --ndf, or choose a smaller --netG"):
        model = MODELS[opt.model](opt, device, ddp=ctx.distributed)
    if ctx.distributed:  # same initial weights everywhere (DDP checks), then each rank its own dropout
        seed_everything(opt.seed + ctx.rank)
    first_epoch, skip, total_iters, state = opt.epoch_count, 0, 0, {}
    if resume_label is not None:
        model.load(run_dir, resume_label)
        if state_path(run_dir, resume_label).is_file():
            state = model.load_training_state(run_dir, resume_label)
            total_iters = state["total_iters"]
            first_epoch = state["epoch"] + 1 if state["epoch_done"] else state["epoch"]
            skip = 0 if state["epoch_done"] else state["epoch_iter"]
            if "rng" in state and not ctx.distributed:
                resilience.restore_rng(state["rng"])
        else:  # weights from the classic code base: no optimizer state, counters from --epoch_count
            say(f"train.py: {state_path(run_dir, resume_label).name} not found; weights loaded, "
                f"optimizers start fresh at epoch {opt.epoch_count}")
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    if first_epoch > last_epoch:
        raise UserError(f"the run already finished epoch {first_epoch - 1} of {last_epoch}: raise "
                        "--n_epochs or --n_epochs_decay to train longer")

    recorder = None
    if main_process:
        save_options(opt, parser, run_dir)
        recorder = TrainingRecorder(opt, run_dir)
    if opt.verbose:
        for name, net in model.nets.items():
            say(f"[{name}] {sum(p.numel() for p in net.parameters()) / 1e6:.3f} M parameters\n{net}")
    n_samples = len(loader.dataset)
    processes = f", {ctx.world_size} processes" if ctx.distributed else ""
    say(f"train.py: {opt.model}, {loader.dataset.describe()}, {n_samples} samples per epoch, "
        f"epochs {first_epoch}..{last_epoch}, device {device}{processes}{amp_note(opt)}, seed {opt.seed}, "
        f"checkpoints in {run_dir}")

    guard = resilience.LossGuard(model.loss_names) if opt.nan_policy == "stop" else None
    step_advice = (f"lower --batch_size (now {opt.batch_size}) or --crop_size (now {opt.crop_size}), or --ngf and "
                   "--ndf, or choose a smaller --netG")
    g_losses = generator_losses(model.loss_names)
    bad_images = resilience.BadImages(opt.max_bad_images, report=say)
    bad_images.seen.update(state.get("bad_images", {}))
    nan_skipped = state.get("nan_skipped", 0)
    g_loss_sum = torch.tensor(state.get("epoch_g_loss_sum", 0.0) if skip else 0.0, device=device)
    steps = state.get("epoch_steps", 0) if skip else 0

    def save(label: str, epoch: int, epoch_iter: int, done: bool) -> None:
        """Every rank checks the weights (cheap, rare); rank 0 writes them."""
        if guard is not None:
            guard.flush()
        if not resilience.all_finite(p for net in model.nets.values() for p in net.parameters()):
            raise resilience.NonFiniteLoss(f"non-finite weights at epoch {epoch}, image {total_iters}; not saved "
                                           "over the last checkpoint; resume from it with a lower --lr")
        if main_process:
            model.save(run_dir, label, {
                "epoch": epoch, "epoch_iter": epoch_iter, "epoch_done": done, "total_iters": total_iters,
                "seed": opt.seed, "options": _plain(vars(opt)), "rng": resilience.capture_rng(),
                "epoch_g_loss_sum": float(g_loss_sum), "epoch_steps": steps, "nan_skipped": nan_skipped,
                "bad_images": dict(bad_images.seen)})

    with resilience.StopSignals() as signals:
        for epoch in range(first_epoch, last_epoch + 1):
            sampler.set_epoch(epoch, start=skip)
            epoch_iter, skip = skip, 0
            html_done = False
            bar = tqdm(loader, desc=f"epoch {epoch}/{last_epoch}", unit="batch", dynamic_ncols=True,
                       mininterval=1.0, file=sys.stdout, disable=None if main_process else True)
            t_data_start = time.time()
            for batch in bar:
                t_start = time.time()
                bad_images.add(batch["bad"])
                with memory.out_of_memory_as_user_error(f"in a training step on {device}", step_advice):
                    model.set_input(batch)
                    losses = model.optimize_parameters()
                n = batch["A"].size(0) * ctx.world_size  # images of the global batch, all ranks together
                total_iters, epoch_iter = total_iters + n, epoch_iter + n
                global_losses = distributed.mean_over_ranks(ctx, torch.stack(list(losses.values())))
                if model.skipped_step:
                    nan_skipped += 1
                    say(f"train.py: warning: non-finite values at epoch {epoch}, image {total_iters}: step skipped "
                        f"(--nan_policy skip; {nan_skipped} so far)")
                else:
                    g_loss_sum += sum(losses[k] for k in g_losses)
                    steps += 1
                if guard is not None:
                    guard.after_step(global_losses, f"epoch {epoch}, image {total_iters}")

                if crossed(total_iters, n, opt.print_freq) and main_process:
                    t_comp = (time.time() - t_start) / n
                    t_data = (t_start - t_data_start) / n
                    values = loss_values(dict(zip(losses, global_losses)))
                    recorder.losses(epoch, epoch_iter, total_iters, epoch - 1 + epoch_iter / n_samples,
                                    t_comp, t_data, values, model.current_lr())
                    bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
                if crossed(total_iters, n, opt.display_freq) and main_process:
                    to_html = crossed(total_iters, n, opt.update_html_freq) or not html_done
                    recorder.images(epoch, total_iters, model.visuals(), to_html)
                    html_done = html_done or to_html
                if crossed(total_iters, n, opt.save_latest_freq):
                    save(f"iter_{total_iters}" if opt.save_by_iter else "latest", epoch, epoch_iter, done=False)
                stop, too_many_bad = distributed.any_rank(ctx, signals.received is not None, bad_images.exceeded)
                if too_many_bad:
                    raise bad_images.error()
                if stop:
                    bar.close()
                    save("latest", epoch, epoch_iter, done=False)
                    if main_process:
                        recorder.close()
                    say(f"train.py: stopped by {signals.name or 'a signal'} at epoch {epoch}, image {total_iters}; "
                        f"saved {run_dir}/latest_*. Resume with: {resume_command(argv)}")
                    return 128 + (signals.received or signal.SIGTERM)
                t_data_start = time.time()
            bar.close()

            if not html_done and main_process:
                recorder.images(epoch, total_iters, model.visuals(), to_html=True)
            mean_g = float(distributed.mean_over_ranks(ctx, g_loss_sum / max(steps, 1))) if steps else None
            lr = model.update_learning_rate(mean_g)
            g_loss_sum, steps = torch.zeros((), device=device), 0
            save("latest", epoch, epoch_iter, done=True)
            if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch:
                save(str(epoch), epoch, epoch_iter, done=True)
            say(f"end of epoch {epoch}/{last_epoch}: {epoch_iter} images, mean G loss "
                f"{mean_g if mean_g is not None else float('nan'):.3f}, learning rate now {lr:.7f}")
    if main_process:
        recorder.close()
    distributed.barrier(ctx)  # no rank leaves (and tears the group down) before rank 0 has saved
    extra = f"; {nan_skipped} steps skipped for non-finite values" if nan_skipped else ""
    say(f"train.py: done; checkpoints in {run_dir}{extra}")
    return 0


def amp_note(opt) -> str:
    """What ``--amp auto`` chose, for the start-up line (nothing for an explicit --amp)."""
    return f", --amp auto: {opt.amp_resolved}" if opt.amp == "auto" else ""


def resume_command(argv: list[str]) -> str:
    """This run's command line with --continue_train, for the message after a preemption."""
    args = [shlex.quote(a) for a in argv if a != "--continue_train"]
    return " ".join(["python train.py", *args, "--continue_train"])


def _plain(options: dict) -> dict:
    """Options as weights-only-loadable plain data."""
    return {k: v for k, v in options.items() if isinstance(v, (str, int, float, bool, type(None), list))}


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "train.py"))
