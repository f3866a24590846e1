"""dlib and the model files of the ``face_recognition_models`` package, each loaded once per process.

Both come from PyPI (``dlib-bin``, a prebuilt dlib wheel, and ``face_recognition_models``; see
scripts/setup_env.sh), so nothing is downloaded at run time. The package is located without being
imported: its ``__init__`` imports ``pkg_resources`` and warns about it.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from util.errors import UserError

SHAPE_68 = "shape_predictor_68_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL = "run scripts/setup_env.sh (it installs dlib-bin and face_recognition_models)"


def dlib():
    try:
        import dlib as module
    except ImportError as err:
        raise UserError(f"dlib is not installed: {INSTALL}") from err
    return module


def model_file(name: str) -> str:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the package face_recognition_models is not installed: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise UserError(f"{path} is missing: reinstall face_recognition_models ({INSTALL})")
    return str(path)


@functools.cache
def hog_detector():
    return dlib().get_frontal_face_detector()


@functools.cache
def cnn_detector():
    return dlib().cnn_face_detection_model_v1(model_file(CNN_DETECTOR))


@functools.cache
def shape_predictor():
    return dlib().shape_predictor(model_file(SHAPE_68))


@functools.cache
def face_descriptor():
    return dlib().face_recognition_model_v1(model_file(DESCRIPTOR))
