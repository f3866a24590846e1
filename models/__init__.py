"""Models: ``cycle_gan`` (two generators, two discriminators, unpaired data), ``pix2pix`` (one
generator, a conditional discriminator, aligned pairs) and ``test`` (one generator, inference only).

``MODELS`` feeds ``--model``'s choices, and train.py and test.py build the chosen class from it. A
trainable model extends :class:`models.common.GANModel` and exposes ``set_input``,
``optimize_parameters`` (returning detached losses named by ``loss_names``), ``visuals``,
``translate``, ``save``, ``load``, ``training_state``/``load_training_state``,
``update_learning_rate``, ``current_lr``, ``skipped_step`` and ``eval``; ``GENERATOR_FILES`` names
the classic files test.py reads; the static ``build_networks(opt)`` makes its networks, which
:mod:`models.memory` also calls on the meta device to size them before train.py builds anything.
``test`` exposes ``translate``, ``load`` and ``eval``.
"""
from pathlib import Path

from models.cycle_gan_model import CycleGANModel
from models.pix2pix_model import Pix2PixModel
from models.test_model import TestModel
from util.checkpoint import net_path

MODELS = {"cycle_gan": CycleGANModel, "pix2pix": Pix2PixModel, "test": TestModel}
TRAINABLE = ("cycle_gan", "pix2pix")


def other_model_hint(run_dir: Path, label: str, model: str) -> str:
    """'; <run_dir> holds a <name> checkpoint (...): pass --model <name>' where the checkpoint ``label``
    that ``model`` did not find belongs to another trainable model, else ''."""
    for name in TRAINABLE:
        path = net_path(run_dir, label, MODELS[name].GENERATOR_FILES[0])
        if name != model and path.is_file():
            return f"; {run_dir} holds a {name} checkpoint ({path.name}): pass --model {name}"
    return ""
