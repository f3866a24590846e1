"""Face masks drawn onto real photos with no training: a 3D-posed, shaded mask renderer.

- :mod:`util.masks.style`: the choices (mask types, wear classes, patterns, colours) and the
  per-face draw, which depends only on the seed and the face's key;
- :mod:`util.masks.texture`: the masks' cloth, drawn by this code (pleats, seams, patterns) or read
  from the user's image, in the mask's own (u, v) coordinates;
- :mod:`util.masks.render`: the mask posed on the face from its 68 landmarks, lit by the face's
  own skin, blurred and noised like the photo, and composited with a soft contact shadow.

Nothing here imports torch; ``scripts/mask_photos.py --method render`` uses :class:`MaskRenderer`.
"""
from util.masks.render import MaskRenderer, Rendered  # noqa: F401
