"""Image-quality metrics, shared by the command-line scripts and anything else that evaluates a run.

- :mod:`util.metrics.inception`: the FID Inception network of pytorch-fid, its weights file, and a
  fast inference wrapper (batch norm folded into the convolutions, channels-last, inference mode);
- :mod:`util.metrics.features`: decoding and resizing image folders in DataLoader workers, feeding
  the network in batches, returning one feature row per image;
- :mod:`util.metrics.fid`: Gaussian statistics, the Frechet distance, pytorch-fid ``.npz`` files and
  the cache of real-image statistics;
- :mod:`util.metrics.kid`: the kernel inception distance (unbiased, over random subsets);
- :mod:`util.metrics.paired`: PSNR and SSIM for paired test sets, whole-image or inside a mask;
- :mod:`util.metrics.localisation`: the IoU of the region a translation changed (|fake - input| above
  a threshold, or an attention map above 0.5) with the true mask;
- :mod:`util.metrics.identity`: dlib face-descriptor distances of fakes to their true counterparts
  and inputs, with the faces dlib could not find counted.

To add a metric, add a module with plain functions on arrays or tensors and call it from
``scripts/evaluate.py``; nothing here reads options or parses flags.
"""
