"""Faces in ordinary photos: find them, cut them out the way FFHQ was cut, put them back, and tell
whether a face is still the same person.

- :mod:`util.faces.dlib_models`: the dlib model files that the ``face_recognition_models`` package
  ships (68-point shape predictor, CNN face detector, 128-D face descriptor), loaded once;
- :mod:`util.faces.detect`: HOG (doubtful scores confirmed by the CNN on a crop), CNN, or HOG then the CNN
  where HOG finds nothing, each photo searched at a size that suits it; then the 68 landmarks;
- :mod:`util.faces.align`: FFHQ's oriented square (the quad) from the landmarks, the aligned crop,
  and the paste-back with a feathered edge that leaves every pixel outside the quad untouched;
- :mod:`util.faces.identity`: dlib's face descriptor before and after, and their distance.

Coordinates are in the upright image's pixels with the image spanning ``[0, W] x [0, H]``: a pixel's
centre is at ``+0.5`` (dlib's integer landmark positions plus one half). Nothing here reads options;
``scripts/mask_photos.py`` and ``scripts/evaluate.py`` use these functions.
"""
