"""Reading and writing checkpoints: atomic, weights-only, and compatible with the classic files.

File names follow the classic code base so that its checkpoints (and its released pretrained models)
load here and ours load there: ``<label>_net_<NAME>.pth`` holds one network's state dict, where
``<label>`` is ``latest``, an epoch number or ``iter_<n>``, and ``NAME`` is ``G_A`` (our ``G_AB``),
``G_B`` (``G_BA``), ``D_A`` or ``D_B``. Everything needed to continue a run (optimizers, schedulers,
counters, options, image pools) goes into one more file, ``<label>_train_state.pth``.

Saves write temporary files in the same folder, then rename them over the targets; the files of one
checkpoint (four networks and the state) are committed together through a small journal, so a crash
at any moment leaves either the old or the new checkpoint, never half of one or a mix. Loads use ``torch.load(weights_only=True)``, which refuses pickles
that would run code.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from util.errors import UserError
from util.files import default_file_mode

NORM_STAT_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
ATTENTION_PREFIX = "attention."  # the alpha head of models.networks.AttentionGenerator (--attention)
TMP_SUFFIX = ".tmp"
JOURNAL_SUFFIX = ".commit"


def net_path(checkpoint_dir: str | Path, label: str, classic_name: str) -> Path:
    return Path(checkpoint_dir) / f"{label}_net_{classic_name}.pth"


def state_path(checkpoint_dir: str | Path, label: str) -> Path:
    return Path(checkpoint_dir) / f"{label}_train_state.pth"


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(obj: Any, path: Path) -> Path:
    """``torch.save`` into ``.<name>.<random>.tmp`` beside ``path``, flushed to disk; returns its path."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.chmod(tmp_name, default_file_mode())  # mkstemp makes 0600; checkpoints get the usual mode
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp_name)
        raise
    return Path(tmp_name)


def _save_error(path: Path, err: BaseException) -> UserError:
    reason = getattr(err, "strerror", None) or one_line_reason(err)
    return UserError(f"could not write {path}: {reason}; the previous checkpoint is unchanged: free space, "
                     "fix permissions or choose another --checkpoints_dir")


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, fsync it, then rename it over ``path``."""
    save_together({Path(path): obj})


def save_together(files: Mapping[Path, Any], journal_name: str | None = None) -> None:
    """Write several files as one checkpoint: after a crash at any point, either all of them are the
    new ones or all are the old ones (once :func:`recover` has run, as train.py and test.py do).

    Every file is first written and flushed as a temporary file; then a journal listing the renames
    is written (atomically); then each temporary file is renamed over its target; then the journal
    is deleted. A crash before the journal exists leaves only temporary files (the old set is
    intact); a crash after it leaves a journal that :func:`recover` completes.
    """
    paths = [Path(p) for p in files]
    folder = paths[0].parent
    written: list[Path] = []
    journal = folder / (journal_name or f".{paths[0].name}{JOURNAL_SUFFIX}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, obj in files.items():
            written.append(_write_new(obj, Path(path)))
        if len(paths) > 1:
            text = json.dumps([[tmp.name, path.name] for tmp, path in zip(written, paths)])
            tmp_journal = journal.with_name(journal.name + TMP_SUFFIX)
            tmp_journal.write_text(text)
            with open(tmp_journal, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp_journal, journal)
            _fsync_dir(folder)
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as a RuntimeError
        for tmp in written:
            tmp.unlink(missing_ok=True)
        raise _save_error(paths[len(written)] if len(written) < len(paths) else journal, err) from err
    for tmp, path in zip(written, paths):
        os.replace(tmp, path)
    _fsync_dir(folder)
    journal.unlink(missing_ok=True)


def recover(folder: str | Path) -> list[str]:
    """Finish or undo checkpoint writes a crash interrupted in ``folder``; returns what was done.

    A journal means every new file was complete before the crash: the remaining renames are done.
    Temporary files without a journal are the leftovers of a write that never finished: deleted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    done = []
    try:
        for journal in sorted(folder.glob(f".*{JOURNAL_SUFFIX}")):
            try:
                renames = json.loads(journal.read_text())
            except (OSError, ValueError):
                renames = []  # the journal itself was being written: its files are still temporary
            for tmp_name, name in renames:
                if (folder / tmp_name).exists():
                    os.replace(folder / tmp_name, folder / name)
                    done.append(f"completed {name}")
            _fsync_dir(folder)
            journal.unlink()
        for tmp in sorted(folder.glob(f".*{TMP_SUFFIX}")):
            tmp.unlink()
            done.append(f"removed unfinished {tmp.name}")
    except OSError as err:
        raise UserError(f"cannot repair the interrupted checkpoint write in {folder}: {err.strerror or err}; "
                        "make the folder writable") from err
    return done


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``; any failure is a one-line :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found: check --name, --checkpoints_dir and --epoch")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(f"refused to load {path}: it holds Python objects beyond tensors and plain "
                        "data, which could run code; only weights-only checkpoints are loaded") from err
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise UserError(f"cannot read checkpoint {path} ({one_line_reason(err)}): "
                        "the file is damaged or not a PyTorch checkpoint") from err
    if isinstance(obj, Mapping) and hasattr(obj, "_metadata"):
        obj = dict(obj)  # drop the version metadata older PyTorch versions attached
    return obj


def one_line_reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def clean_state_dict(state: Mapping[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Adapt a state dict from another code base or PyTorch version to ``net``.

    Removes a ``module.`` prefix left by DataParallel/DDP, and the running statistics that
    InstanceNorm layers carried under PyTorch < 0.4 (the classic released models have them).
    """
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = net.state_dict()
    instance_norms = {name for name, m in net.named_modules() if isinstance(m, nn.InstanceNorm2d)}
    for key in list(state):
        prefix, _, leaf = key.rpartition(".")
        if key not in expected and leaf in NORM_STAT_SUFFIXES and prefix in instance_norms:
            del state[key]
    return state


def load_network(net: nn.Module, path: str | Path, describe_flags: str) -> None:
    """Load weights into ``net``; a mismatch is one line naming the flags that differ.

    ``describe_flags`` spells out the architecture the run asked for (e.g. "--netG resnet_9blocks
    --ngf 64 --norm instance"), for the message.
    """
    state = safe_load(path)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} is not a network state dict (expected a file like latest_net_G_A.pth)")
    state = clean_state_dict(state, net)
    expected = net.state_dict()
    wants_head, has_head = has_attention_head(expected), has_attention_head(state)
    if wants_head != has_head:
        raise UserError(f"{path} was trained {'without' if wants_head else 'with'} --attention (its generator "
                        f"{'has no' if wants_head else 'has an'} attention head): "
                        + ("drop --attention" if wants_head else "pass --attention")
                        + " to load it, or check --name and --epoch")
    problem = state_dict_mismatch(expected, state)
    if problem:
        found = describe_generator(state)
        hint = f"it was trained with {found}" if found else "it belongs to another architecture"
        raise UserError(f"{path} does not fit {describe_flags}: {hint} ({problem}); "
                        "pass the checkpoint's flags, or drop yours so they come from train_opt.json")
    net.load_state_dict(state)


def state_dict_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> str:
    """The first difference between two state dicts in key set or tensor shape, or ''."""
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    if missing:
        return f"missing key {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    if extra:
        return f"unexpected key {extra[0]}" + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
    for key, tensor in expected.items():
        if tuple(found[key].shape) != tuple(tensor.shape):
            return f"{key} has shape {tuple(found[key].shape)}, expected {tuple(tensor.shape)}"
    return ""


def has_attention_head(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether a generator's state dict has the ``--attention`` head (keys ``attention.*``)."""
    return any(k.removeprefix("module.").startswith(ATTENTION_PREFIX) for k in state)


def infer_generator_flags(state: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """Read the generator flags a classic-layout state dict was built with, or None.

    Lets ``test.py`` load a checkpoint that has no ``train_opt.json`` beside it (a classic released
    model, say) without the user having to know ``--netG``, ``--ngf``, ``--norm``, ``--no_dropout``
    or ``--attention`` (an ``attention.*`` layer beside the classic keys).
    U-Net dropout leaves no trace in the weights and is not inferred.
    """
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    attention = has_attention_head(state)
    has_stats = any(k.endswith("running_mean") for k in state)

    def norm(biased_conv: str) -> str:
        # Convolutions before an instance norm carry a bias, before a batch norm (or none) they do not.
        # Instance norms of old PyTorch also kept running statistics (the classic released models have
        # them), so the statistics alone do not mean batch norm.
        return "instance" if biased_conv in state else ("batch" if has_stats else "none")

    first = state.get("model.1.weight")
    if first is not None and first.dim() == 4 and first.shape[-1] == 7:
        blocks = {m.group(1) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        convs = sorted(int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.weight$", k)))
        last = state[f"model.{convs[-1]}.weight"]
        return {
            "netG": f"resnet_{len(blocks)}blocks",
            "ngf": int(first.shape[0]),
            "input_nc": int(first.shape[1]),
            "output_nc": int(last.shape[0]),
            "norm": norm("model.1.bias"),
            # Dropout shifts each block's second conv from index 5 to 6 (index 6 is otherwise a norm).
            "no_dropout": not any(k.endswith(".conv_block.6.weight") and v.dim() == 4 for k, v in state.items()),
            "attention": attention,
        }
    first = state.get("model.model.0.weight")
    if first is not None and first.dim() == 4:
        depth = max(k.split(".").count("model") for k in state) - 1
        out = state.get("model.model.3.weight")
        return {
            "netG": f"unet_{2 ** depth}",
            "ngf": int(first.shape[0]),
            "input_nc": int(first.shape[1]),
            "output_nc": int(out.shape[1]) if out is not None else None,
            "norm": norm("model.model.1.model.1.bias"),
            "attention": attention,
        }
    return None


def describe_generator(state: Mapping[str, torch.Tensor]) -> str:
    flags = infer_generator_flags(state)
    if not flags:
        return ""
    parts = [f"--netG {flags['netG']}", f"--ngf {flags['ngf']}", f"--norm {flags['norm']}"]
    if flags.get("input_nc") not in (None, 3):
        parts.append(f"--input_nc {flags['input_nc']}")
    if flags.get("output_nc") not in (None, 3):
        parts.append(f"--output_nc {flags['output_nc']}")
    if "no_dropout" in flags:
        parts.append("--no_dropout" if flags["no_dropout"] else "(dropout on)")
    if flags.get("attention"):
        parts.append("--attention")
    return " ".join(parts)
