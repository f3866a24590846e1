"""Models: ``cycle_gan`` (two generators, two discriminators) and ``test`` (one generator).

``MODELS`` feeds ``--model``'s choices. A model takes the option namespace, owns its networks,
optimizers and schedulers, and exposes ``set_input``, ``optimize_parameters`` (training) or
``translate`` (inference), ``save`` and ``load``.
"""
from models.cycle_gan_model import CycleGANModel
from models.test_model import TestModel

MODELS = {"cycle_gan": CycleGANModel, "test": TestModel}
