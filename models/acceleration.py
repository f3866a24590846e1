"""The speed settings shared by training and inference: mixed precision, memory layout,
torch.compile, and the DataParallel / DistributedDataParallel wrappers.

A network is kept twice over: the plain ``nn.Module`` (whose parameters the optimizers hold and
whose state dict is saved, so checkpoints keep the classic key layout whatever the settings) and a
*runner* that calls it: compiled, then wrapped for several GPUs. ``--amp none`` without the other
flags makes the runner the module itself, the classic fp32 eager path.

``--amp auto`` is settled here once per launch (:func:`resolve_amp`): bf16 where the device computes
it natively, otherwise plain fp32. Every entry point (train.py, test.py, scripts/mask_photos.py,
scripts/benchmark.py) calls :func:`choose_amp` and runs and records what it returns.
"""
from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from util.errors import UserError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# CPU instructions that compute bf16 natively, as Linux names them in /proc/cpuinfo: AVX-512 BF16
# (Cooper Lake, Sapphire Rapids and later Xeons, Zen 4 and later) and AMX (Sapphire Rapids and later).
# Without them PyTorch emulates bf16 in fp32 with conversions around every operation.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def read_cpuinfo() -> str | None:
    """The text of /proc/cpuinfo on Linux; None elsewhere or when it cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str] | None:
    """Which of :data:`CPU_BF16_FLAGS` the CPU has, from the ``flags`` lines of ``cpuinfo`` (default:
    this machine's, :func:`read_cpuinfo`); None when unknown (no such text, or no ``flags`` line)."""
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    flags: set[str] = set()
    for line in (text or "").splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() == "flags":
            flags.update(value.split())
    if not flags:
        return None
    return [flag for flag in CPU_BF16_FLAGS if flag in flags]


def cpu_bf16_native(flags_text: str | None = None) -> bool:
    """Whether the CPU computes bf16 natively (see :func:`cpu_bf16_flags`); unknown counts as no."""
    return bool(cpu_bf16_flags(flags_text))


def resolve_amp(amp: str, device: torch.device | str) -> str:
    """``--amp`` as the run uses it: ``auto`` becomes bf16 where ``device`` computes bf16 natively (a
    CUDA GPU with bf16 arithmetic, Ampere and later; a CPU with :data:`CPU_BF16_FLAGS`), otherwise
    none (plain fp32). Other values are returned as they are."""
    if amp != "auto":
        return amp
    device = torch.device(device)
    if device.type == "cuda":
        if device.index is not None:
            with torch.cuda.device(device.index):
                native = torch.cuda.is_bf16_supported(including_emulation=False)
        else:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
    else:
        native = device.type == "cpu" and cpu_bf16_native()
    return "bf16" if native else "none"


def slow_bf16_warning(amp: str, device: torch.device | str) -> str | None:
    """Why ``--amp bf16`` will be slow on this CPU, or None where it is not (CUDA, CPUs with the flags,
    other modes)."""
    device = torch.device(device)
    if amp != "bf16" or device.type != "cpu":
        return None
    flags = cpu_bf16_flags()
    if flags:
        return None
    why = ("no avx512_bf16 or amx_bf16 in /proc/cpuinfo" if flags is not None
           else "its instruction flags could not be read")
    return (f"--amp bf16 on this CPU is emulated ({why}) and runs slower than fp32, not faster (measured "
            "37x slower per CycleGAN step on an AMD EPYC with AVX2 only); use --amp auto or --amp none")


def choose_amp(amp: str, device: torch.device | str, warn: Callable[[str], None] | None = None) -> str:
    """:func:`resolve_amp`, and ``warn`` handed :func:`slow_bf16_warning`'s line when bf16 is emulated.

    ``auto`` never chooses emulated bf16, so only an explicit ``--amp bf16`` is warned about."""
    chosen = resolve_amp(amp, device)
    line = slow_bf16_warning(chosen, device)
    if line and warn is not None:
        warn(line)
    return chosen


def autocast(device: torch.device, amp: str):
    """The autocast context of ``--amp`` (a no-op for ``none``)."""
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


def check_amp(device: torch.device, amp: str) -> None:
    """Refuse bf16 on GPUs without bf16 arithmetic (before Ampere, e.g. the V100), where it is emulated."""
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise UserError(f"--amp bf16: {torch.cuda.get_device_name(device)} has no bf16 arithmetic; "
                        "use --amp fp16 (with its gradient scaler) or --amp none")


def grad_scaler(device: torch.device, amp: str) -> torch.amp.GradScaler:
    """A gradient scaler, active only for fp16 (bf16 has fp32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=amp == "fp16")


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def configure_backends(device: torch.device, cudnn_benchmark: bool) -> None:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cudnn_benchmark
        # TF32 only touches fp32 matmuls/convolutions; --amp none on a CPU is unaffected.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def prepare(net: nn.Module, device: torch.device, channels_last: bool = False, sync_batchnorm: bool = False
            ) -> nn.Module:
    """The plain module on ``device`` in its memory layout (BatchNorm made SyncBatchNorm for DDP on GPUs)."""
    if sync_batchnorm:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)  # same state-dict keys as BatchNorm2d
    return net.to(device=device, memory_format=memory_format(channels_last))


def runner(net: nn.Module, device: torch.device, compile: bool = False, ddp: bool = False,
           data_parallel_ids: list[int] | None = None) -> nn.Module:
    """What the training step calls: ``net`` compiled, then in DDP (torchrun) or DataParallel."""
    run = torch.compile(net) if compile else net
    if ddp:
        # Buffers are not broadcast: with SyncBatchNorm (GPUs) the statistics already agree, and
        # instance norm has none; the networks run several times per step, each call would re-send them.
        ids = [device.index] if device.type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel
        # newer torch calls the per-forward sync forward_sync_buffers and deprecates broadcast_buffers
        no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(ddp).parameters
                   else {"broadcast_buffers": False})
        run = ddp(run, device_ids=ids, gradient_as_bucket_view=True, **no_sync)
    elif data_parallel_ids and len(data_parallel_ids) > 1 and device.type == "cuda":
        run = nn.DataParallel(run, data_parallel_ids)
    return run


def without_ddp(run: nn.Module) -> nn.Module:
    """A runner without its DDP wrapper: for calls that must not take part in gradient averaging."""
    return run.module if isinstance(run, nn.parallel.DistributedDataParallel) else run


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module inside DataParallel / DDP / torch.compile wrappers."""
    while True:
        if isinstance(net, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            net = net.module
        elif hasattr(net, "_orig_mod"):
            net = net._orig_mod
        else:
            return net
