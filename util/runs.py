"""Which generator of a trained run translates which way, for the tools that take a run by name
(scripts/epoch_grid.py, scripts/mask_photos.py) whether it is a CycleGAN or a pix2pix run.

A CycleGAN run has two generators: G_AB (``<label>_net_G_A.pth``, AtoB, puts a mask on) and G_BA
(``net_G_B``, BtoA, takes it off). A pix2pix run has one, ``net_G``, which translates the way the run
was trained: its train_opt.json's ``direction`` (AtoB puts masks on, BtoA takes them off). The model
is the one train_opt.json names; without that file (a classic checkpoint) a folder with ``*_net_G.pth``
and no ``*_net_G_A.pth`` is a pix2pix run whose direction is unknown, so the tool takes the one asked for.
Each tool words its own refusal, naming its own flag.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DIRECTIONS = ("AtoB", "BtoA")
CYCLE_GAN_FILES = {"AtoB": "G_A", "BtoA": "G_B"}  # G_A is G_AB, G_B is G_BA


@dataclass(frozen=True)
class RunGenerators:
    name: str
    model: str               # "cycle_gan" or "pix2pix"
    trained: str | None      # pix2pix: the direction train_opt.json gives; None for CycleGAN or a classic checkpoint

    def generator(self, direction: str) -> str | None:
        """The generator file (G_A, G_B or G) that translates ``direction``; None where the run has none."""
        if self.model == "cycle_gan":
            return CYCLE_GAN_FILES[direction]
        return "G" if self.trained in (None, direction) else None

    def describe(self) -> str:
        """'run NAME is a pix2pix run trained AtoB', for messages."""
        return f"run {self.name} is a {self.model} run" + (f" trained {self.trained}" if self.trained else "")


def run_generators(run_dir: str | Path) -> RunGenerators:
    """The run in ``run_dir`` as its train_opt.json (else its checkpoint files) describes it. An unreadable
    train_opt.json counts as absent here: test.py's architecture check, which the tools run next, names it."""
    run_dir = Path(run_dir)
    try:
        saved = json.loads((run_dir / "train_opt.json").read_text())
    except (OSError, ValueError):
        saved = None
    saved = saved if isinstance(saved, dict) else {}
    model = saved.get("model")
    if model not in ("cycle_gan", "pix2pix"):
        one = any(run_dir.glob("*_net_G.pth")) and not any(run_dir.glob("*_net_G_A.pth"))
        model = "pix2pix" if one else "cycle_gan"
    trained = saved.get("direction") if model == "pix2pix" and saved.get("direction") in DIRECTIONS else None
    return RunGenerators(run_dir.name, model, trained)
