"""Speed measurements, each next to its plain baseline measured in the same run.

    python scripts/benchmark.py --mode all --crop_size 128 --batch_size 1 --iters 10 \\
        --compile --stack_passes --adam_impl fused --device cpu --json
    python scripts/benchmark.py --mode train --crop_size 256 --amp bf16 --channels_last --device cuda --json

``--mode train``: seconds per CycleGAN iteration (the classic resnet_9blocks/basic networks, lsgan,
identity loss, image pool; random images already on the device, so data loading is not counted) and
images/s, for the plain fp32 eager path and for the settings given (``--amp``, ``--channels_last``,
``--compile``, ``--stack_passes``, ``--adam_impl``), with the ratio; peak memory of the fast path
(CUDA: max allocated; CPU: peak resident set of the process, reset before each measurement); on
CUDA also the step's FLOPs (counted by torch's FlopCounterMode) and the fraction of the GPU's bf16
peak that the fast step reaches. ``--model pix2pix`` times a pix2pix step instead (one generator,
the 6-channel conditional D, with pix2pix's defaults: batch norm, vanilla GAN loss, no pool; the
``--netG`` given).

``--mode test``: generator inference at the crop size: the classic loop (one image at a time,
fp32 eager) against batches of ``--test_batch_size`` with the settings given; images/s and
seconds per call (one image, or one batch). Given several sizes (``--test_batch_size 16 64``), each
is timed; the first one's numbers are the plain keys, all of them in ``test_img_per_s_by_batch``.

``--mode data``: the training DataLoader (decode, resize to --load_size, crop, flip; one A and one
B image per sample) in images/s (samples/s x 2) from synthetic photo-like PNGs of 1024 px (FFHQ's
size) and of 286 px (pre-resized), with ``--num_threads`` workers.

``--mode fid``: scripts/fid.py's path against pytorch-fid's own ``calculate_fid_given_paths`` on the
same two folders of generated PNGs, with the same weights file, on ``--device`` (default: cuda when
there is one); reports seconds, images/s, the speed-up and both FID values (``--no_reference``:
scripts/fid.py alone). Without ``--inception_weights`` a random-weights file of the same
layout is made (speed does not depend on the values; the FIDs are then meaningless but must agree).

``--mode sizes``: the header scan train.py makes before it starts when ``--preprocess none`` or
``scale_width`` meets ``--batch_size`` above 1 (every file's size, read without decoding it): files/s
over ``--scan_images`` files (70,000 by default, FFHQ's count) of a ``--scan_dir``, or, without one,
of small PNGs written for it (a header read costs the same for a 1024 px file: only its first bytes
are parsed); first as the files are found (with ``--cold``: the page cache dropped, where that is
allowed: root on Linux), then again warm; next to the time to decode the same number of 1024 px PNGs at the measured rate.

``--mode photos``: scripts/mask_photos.py's pipeline on ``--photos`` 1024 px photos holding 1 to 4
faces (copies of scikit-image's astronaut, scaled, turned and mirrored), with a random-weights
``--netG`` generator at ``--crop_size`` (speed does not depend on the weights): each stage alone in
this process (decode, detect, landmarks, align, translate, paste, identity, write) and the whole
pipeline with ``--num_threads`` worker processes, in photos/s and faces/s, and the whole's rate over
the slowest stage's. Also the CNN detector's time per photo, and how many faces each detector finds
once masks are drawn on them.

``--mode render``: the no-training renderer against MaskTheFace (aqeelanwar/MaskTheFace), on
``--photos`` 1024 px photos with 1 to 4 faces (the photos mode's, every second face Grace Hopper from
matplotlib's sample data where it is installed). Our whole command, ``scripts/mask_photos.py --method
render`` with ``--num_threads`` workers, run as a user runs it in a subprocess: wall clock with
start-up, faces masked and stage seconds from its summary.json. With ``--maskthefaced_dir`` (a
checkout; ``--maskthefaced_python``, the interpreter that has its requirements) its
``mask_the_face.py --verbose`` on a copy of the same photos, timed the same way (one process: it has
no workers), its faces counted from its "Faces found" lines, and its start-up alone on an empty
folder; photos/s of both and their ratio. Then the FFHQ case, landmarks known: faces found once
(HOG detection and landmarks timed apart), and ``MaskRenderer.render`` timed over every face for each
``--mask_type``, in faces/s: in the photos as placed, and each face cut out as FFHQ stores it (its
FFHQ square at 1024 px, the landmarks carried along). Each measurement is the best of ``--repeats``.
No torch is imported.

    python scripts/benchmark.py --mode render --photos 12 --num_threads 2 --mask_type surgical cloth \\
        --maskthefaced_dir /tmp/MaskTheFace --maskthefaced_python /tmp/mtf-venv/bin/python

``--mode dataset``: datasets/render_masked_faces.py making a masked set from FFHQ-like sources with
their landmarks given (``--faces`` aligned faces at each of ``--dataset_sizes``, cut from scikit-image's
astronaut and matplotlib's Grace Hopper, mirrored and re-lit, with an ffhq-dataset-v2.json of their
landmarks, so nothing is detected; random mask types and the default wear mix). The whole command as
a user runs it, with 1 worker (faces/s per core) and with one per core, best of ``--repeats``; and
each stage's time per face from its own report (decode, align, render, encode+write). From the
per-core rate: the hours FFHQ's 70,000 faces take on this machine's cores.

    python scripts/benchmark.py --mode dataset --faces 48 --dataset_sizes 256 1024

``--mode all`` runs train, test and data. The last line printed is always one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from util.errors import UserError, run_cli  # noqa: E402

# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, by a substring of the name.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0,
                    "L40S": 362.0, "A10": 125.0, "V100": 125.0, "RTX 4090": 165.0}


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def amp_evidence(device) -> dict:
    """What ``--amp auto`` decides from: the CPU's bf16 flags (null where /proc/cpuinfo cannot be read)
    and, on CUDA, whether the GPU has bf16 arithmetic."""
    import torch

    from models import acceleration

    out = {"cpu_bf16_flags": acceleration.cpu_bf16_flags()}
    if device.type == "cuda":
        out["cuda_bf16"] = torch.cuda.is_bf16_supported(including_emulation=False)
    return out


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        try:  # Linux: "5" resets the process's peak resident set size (VmHWM)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass


def peak_memory_mb(device) -> float | None:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_options(args, fast: bool):
    from options.base_options import finish_options
    from options.train_options import build_train_parser

    argv = ["--dataroot", "unused", "--crop_size", str(args.crop_size), "--load_size", str(args.crop_size),
            "--batch_size", str(args.batch_size), "--netG", args.netG, "--ngf", str(args.ngf), "--ndf", str(args.ndf),
            "--seed", "0", "--gpu_ids", "-1",
            "--model", args.model]
    if fast:
        argv += ["--amp", args.amp_resolved, "--adam_impl", args.adam_impl]
        argv += [f"--{flag}" for flag in ("channels_last", "compile", "stack_passes") if getattr(args, flag)]
    return finish_options(build_train_parser(args.model).parse_args(argv), is_train=True)


def time_train(args, device, fast: bool) -> dict:
    import torch

    from models import MODELS

    torch.manual_seed(0)
    model = MODELS[args.model](train_options(args, fast), device)
    shape = (args.batch_size, 3, args.crop_size, args.crop_size)
    batches = [{"A": torch.rand(shape, device=device) * 2 - 1, "B": torch.rand(shape, device=device) * 2 - 1}
               for _ in range(2)]
    for i in range(args.warmup):  # compiles (and recompiles for the frozen-D variant) happen here
        model.set_input(batches[i % 2])
        model.optimize_parameters()
    synchronize(device)
    reset_peak_memory(device)
    t0 = time.perf_counter()
    for i in range(args.iters):
        model.set_input(batches[i % 2])
        model.optimize_parameters()
    synchronize(device)
    seconds = (time.perf_counter() - t0) / args.iters
    result = {"s_per_iter": seconds, "img_per_s": args.batch_size / seconds, "peak_mem_mb": peak_memory_mb(device)}
    if device.type == "cuda" and not fast:
        result["flops_per_iter"] = count_flops(model, batches[0])
    return result


def count_flops(model, batch) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model.set_input(batch)
        model.optimize_parameters()
    return float(counter.get_total_flops())


def train_mode(args, device) -> dict:
    plain = time_train(args, device, fast=False)
    fast = time_train(args, device, fast=True)
    out = {"train_s_per_iter_fp32": plain["s_per_iter"], "train_s_per_iter": fast["s_per_iter"],
           "train_img_per_s_fp32": plain["img_per_s"], "train_img_per_s": fast["img_per_s"],
           "train_speedup": fast["img_per_s"] / plain["img_per_s"],
           "peak_mem_mb": fast["peak_mem_mb"], "peak_mem_mb_fp32": plain["peak_mem_mb"]}
    if "flops_per_iter" in plain:
        name = device_name(device)
        peak = args.peak_tflops or next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
        out["train_tflop_per_iter"] = plain["flops_per_iter"] / 1e12
        out["train_achieved_tflops"] = plain["flops_per_iter"] / fast["s_per_iter"] / 1e12
        if peak:
            out["bf16_peak_tflops"] = peak
            out["train_fraction_of_bf16_peak"] = out["train_achieved_tflops"] / peak
    return out


def time_inference(args, device, fast: bool, batch: int = 1) -> tuple[float, float]:
    """Images/s and seconds per call of G_AB: one image at a time in plain fp32 (the classic loop),
    or batched and fast."""
    import torch

    from models import acceleration
    from models.networks import define_G

    torch.manual_seed(0)
    batch = batch if fast else 1
    channels_last = fast and args.channels_last
    net = acceleration.prepare(define_G(args.netG, 3, 3, ngf=args.ngf, norm="instance"), device, channels_last)
    run = acceleration.runner(net, device, compile=fast and args.compile)
    amp = args.amp_resolved if fast else "none"
    images = torch.rand(batch, 3, args.crop_size, args.crop_size, device=device).to(
        memory_format=acceleration.memory_format(channels_last)) * 2 - 1
    n_calls = max(1, args.test_images // batch)
    with torch.inference_mode():
        for _ in range(args.warmup):
            with acceleration.autocast(device, amp):
                run(images)
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(n_calls):
            with acceleration.autocast(device, amp):
                out = run(images).float()
            out.clamp(-1, 1)  # what test.py does next, on the device
        synchronize(device)
    seconds = time.perf_counter() - t0
    return n_calls * batch / seconds, seconds / n_calls


def test_mode(args, device) -> dict:
    plain, plain_s = time_inference(args, device, fast=False)
    by_batch = {b: time_inference(args, device, fast=True, batch=b) for b in args.test_batch_sizes}
    fast, fast_s = by_batch[args.test_batch_size]
    return {"test_img_per_s_fp32": plain, "test_img_per_s": fast, "test_speedup": fast / plain,
            "test_s_per_iter_fp32": plain_s, "test_s_per_iter": fast_s, "test_batch_size": args.test_batch_size,
            "test_img_per_s_by_batch": {str(b): rate for b, (rate, _) in by_batch.items()}}


def write_photo_like_pngs(folder: Path, count: int, size: int, seed: int) -> None:
    """Smooth colour fields plus sensor-like noise: PNGs about as large (and as slow to decode)
    per pixel as face photos (FFHQ's 1024 px PNGs are 1-2 MB)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"{i:05d}.png")


def data_mode(args, device) -> dict:
    from data import train_loader
    from options.base_options import finish_options
    from options.train_options import build_train_parser

    out = {}
    work = Path(tempfile.mkdtemp(prefix="data_bench_"))
    for size in (1024, 286):
        root = work / str(size)
        write_photo_like_pngs(root / "trainA", args.data_images, size, 1)
        write_photo_like_pngs(root / "trainB", args.data_images, size, 2)
        argv = ["--dataroot", str(root), "--load_size", str(args.load_size), "--crop_size", str(args.crop_size),
                "--batch_size", str(args.batch_size), "--num_threads", str(args.num_threads), "--seed", "0"]
        opt = finish_options(build_train_parser().parse_args(argv), is_train=True)
        loader, sampler = train_loader(opt)
        sampler.set_epoch(1)
        next(iter(loader))  # workers started
        t0 = time.perf_counter()
        samples = 0
        for epoch in range(2, 2 + args.data_epochs):
            sampler.set_epoch(epoch)
            for batch in loader:
                samples += batch["A"].size(0)
        out[f"data_img_per_s_{size}px"] = 2 * samples / (time.perf_counter() - t0)
        out["data_workers"] = loader.num_workers
    out["data_img_per_s"] = out["data_img_per_s_1024px"]
    return out


def fid_mode(args, device=None) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from util.metrics import inception

    work = Path(tempfile.mkdtemp(prefix="fid_bench_"))
    rng = np.random.default_rng(0)
    folders = [work / "a", work / "b"]
    for k, folder in enumerate(folders):
        folder.mkdir()
        for i in range(args.images):  # smooth random colour fields, different per folder
            small = rng.integers(0, 256, (8 + 4 * k, 8 + 4 * k, 3), dtype=np.uint8)
            Image.fromarray(small).resize((args.size, args.size), Image.Resampling.BICUBIC).save(folder / f"{i:05d}.png")
    weights = Path(args.inception_weights) if args.inception_weights else inception.make_random_weights(work / "w.pth")
    hub = work / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / inception.WEIGHTS_NAME).symlink_to(weights.resolve())
    os.environ["TORCH_HOME"] = str(work / "torch_home")
    from data import loader_workers
    workers = loader_workers(8)  # what pytorch-fid's command line uses: the cores, at most 8
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    n = 2 * args.images
    out = {"mode": "fid", "device": device, "images": n, "size": args.size, "dims": args.dims,
           "threads": torch.get_num_threads(), "workers": workers, "cpu": platform.processor() or platform.machine(),
           "weights": "given" if args.inception_weights else "random (FID values mean nothing)"}
    if not args.no_reference:
        from pytorch_fid.fid_score import calculate_fid_given_paths
        t0 = time.perf_counter()
        ref = float(calculate_fid_given_paths([str(f) for f in folders], 50, device, args.dims, workers))
        t_ref = time.perf_counter() - t0
        out.update({"pytorch_fid_s": t_ref, "pytorch_fid_img_per_s": n / t_ref, "fid_pytorch_fid": ref})

    import contextlib
    import io

    from scripts.fid import main as fid_main
    printed = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        fid_main([str(folders[0]), str(folders[1]), "--dims", str(args.dims), "--device", device,
                  "--inception_weights", str(weights)])
    t_ours = time.perf_counter() - t0
    out.update({"fid_s": t_ours, "fid_img_per_s": n / t_ours,
                "fid": float(printed.getvalue().rsplit("FID:", 1)[1].split()[0])})
    if not args.no_reference:
        out["fid_speedup"] = out["pytorch_fid_s"] / t_ours
    return out


def drop_page_cache() -> bool:
    """Empty Linux's page cache (root only), so the next reads come from the disk; False if refused."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def sizes_mode(args, device=None) -> dict:
    import shutil

    from data import SCAN_THREADS, preprocessed_sizes
    from data.image_folder import find_images, load_image

    work = Path(tempfile.mkdtemp(prefix="sizes_bench_"))
    try:
        if args.scan_dir:
            folder = Path(args.scan_dir)
        else:
            folder = work / "scan"
            write_photo_like_pngs(work / "seed", 8, 64, 3)
            seeds = [p.read_bytes() for p in sorted((work / "seed").iterdir())]
            folder.mkdir()
            for i in range(args.scan_images):
                (folder / f"{i:05d}.png").write_bytes(seeds[i % len(seeds)])
        cold = args.cold and drop_page_cache()
        t0 = time.perf_counter()
        paths = find_images(folder, args.scan_images)
        list_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        groups = preprocessed_sizes(paths, "none", 286, 256)
        scan_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        preprocessed_sizes(paths, "none", 286, 256)
        warm_s = time.perf_counter() - t0
        write_photo_like_pngs(work / "big", 8, 1024, 4)
        big = sorted((work / "big").iterdir())
        t0 = time.perf_counter()
        for path in big:
            load_image(path)
        decode_s = (time.perf_counter() - t0) / len(big)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"scan_files": len(paths), "scan_sizes": len(groups), "scan_threads": SCAN_THREADS,
            "scan_first_cache": "cold (page cache dropped)" if cold else "as found (no --cold, or not allowed)",
            "scan_list_s": list_s, "scan_s": scan_s, "scan_files_per_s": len(paths) / scan_s,
            "scan_warm_s": warm_s, "scan_warm_files_per_s": len(paths) / warm_s,
            "decode_1024px_s_per_file": decode_s, "decode_same_count_s": decode_s * len(paths),
            "scan_source": str(args.scan_dir) if args.scan_dir else "generated 64 px PNGs"}


# Grace Hopper in matplotlib's sample data (512 x 600): her head and shoulders, and how much smaller
# she is drawn than the astronaut at the same scale (dlib's boxes: her face 187 px wide, the astronaut's 91).
HOPPER_HEAD = (0, 0, 512, 560)
HOPPER_SCALE = 0.49


def paste_head(canvas, source, head: tuple[int, int, int, int], matrix) -> None:
    """Warp ``source``'s ``head`` box onto ``canvas`` in place by the 2 x 3 edge-based ``matrix``."""
    import cv2
    import numpy as np

    index_matrix = matrix.copy()  # cv2 maps pixel centres: shift the edge-based matrix by half a pixel
    index_matrix[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    size = (canvas.shape[1], canvas.shape[0])
    small = np.linalg.det(matrix[:, :2]) < 1
    warped = cv2.warpAffine(source, index_matrix, size, flags=cv2.INTER_AREA if small else cv2.INTER_CUBIC)
    window = np.zeros(source.shape[:2], np.uint8)
    window[head[1]:head[3], head[0]:head[2]] = 255
    inside = cv2.warpAffine(window, index_matrix, size, flags=cv2.INTER_NEAREST) > 0
    canvas[inside] = warped[inside]


def benchmark_photos(folder: Path, count: int, seed: int = 0, hopper: bool = False) -> list[int]:
    """``count`` 1024 px PNGs with 1, 2, 3, 4, 1, ... faces each; returns the face counts. With
    ``hopper`` every second face is Grace Hopper instead of the astronaut."""
    import random

    import numpy as np
    from PIL import Image

    from util.faces.sample_photos import HEAD, compose, grace_hopper, placement

    rng = random.Random(seed)
    second = grace_hopper() if hopper else None
    folder.mkdir(parents=True, exist_ok=True)
    counts = []
    cells = [(256, 280), (768, 280), (256, 760), (768, 760)]
    placed = 0
    for k in range(count):
        n = 1 + k % 4
        places = [placement(rng.uniform(1.2, 1.6), rng.uniform(-8, 8), rng.random() < 0.5, cells[c])
                  for c in rng.sample(range(4), n)]
        hers = [i for i in range(n) if second is not None and (placed + i) % 2 == 1]
        canvas = compose((1024, 1024), [p for i, p in enumerate(places) if i not in hers], seed=k)
        for i in hers:  # the same turn, mirroring, centre and relative size as an astronaut there
            linear = places[i].matrix[:, :2] * HOPPER_SCALE
            centre = places[i].apply([[(HEAD[0] + HEAD[2]) / 2, (HEAD[1] + HEAD[3]) / 2]])[0]
            middle = np.array([(HOPPER_HEAD[0] + HOPPER_HEAD[2]) / 2, (HOPPER_HEAD[1] + HOPPER_HEAD[3]) / 2])
            paste_head(canvas, second, HOPPER_HEAD, np.concatenate([linear, (centre - linear @ middle)[:, None]], 1))
        Image.fromarray(canvas).save(folder / f"{k:03d}.png")
        counts.append(n)
        placed += n
    return counts


def photos_mode(args, device) -> dict:
    import shutil

    import numpy as np
    import torch

    from models import acceleration
    from models.networks import define_G
    from util.faces import identity
    from util.faces import photos as pipeline
    from util.faces.align import align, ffhq_quad, paste
    from util.faces.detect import FaceFinder
    from util.faces.sample_photos import draw_masks
    from util.image_io import tensors_to_images

    work = Path(tempfile.mkdtemp(prefix="photos_bench_"))
    try:
        counts = benchmark_photos(work / "in", args.photos)
        paths = sorted((work / "in").iterdir())
        net = acceleration.prepare(define_G(args.netG, 3, 3, ngf=args.ngf, norm="instance"), device, args.channels_last)
        net.eval()
        layout = acceleration.memory_format(args.channels_last)

        def translate(crops):
            batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
            with torch.inference_mode(), acceleration.autocast(device, args.amp_resolved):
                out = net(batch.to(device, memory_format=layout))
            return tensors_to_images(out.float())

        finder = FaceFinder("hog", args.upsample)
        alone = dict.fromkeys(pipeline.STAGES, 0.0)

        def lap(stage, since):
            now = time.perf_counter()
            alone[stage] += now - since
            return now

        found = 0
        for path in paths:  # each stage alone, one photo at a time, in this process
            t = time.perf_counter()
            rgb, alpha, meta = pipeline.read_photo(path)
            t = lap("decode", t)
            boxes = finder.detect(rgb)
            t = lap("detect", t)
            landmarks = [finder.landmarks(rgb, box) for box, _ in boxes]
            quads = [ffhq_quad(lm) for lm in landmarks]
            t = lap("landmarks", t)
            crops = [align(rgb, q, args.crop_size) for q in quads]
            t = lap("align", t)
            fakes = translate(np.stack(crops)) if crops else []
            t = lap("translate", t)
            result = rgb
            for fake, q in zip(fakes, quads):
                result = paste(result, fake, q)
            t = lap("paste", t)
            for lm, (box, _) in zip(landmarks, boxes):
                identity.distance(identity.descriptor(rgb, lm, box), identity.descriptor(result, lm, box))
            t = lap("identity", t)
            (work / "alone.png").write_bytes(pipeline.encode_photo(result, alpha, meta))
            lap("write", t)
            found += len(boxes)

        out = work / "out"
        items = pipeline.find_inputs([str(work / "in")])
        settings = pipeline.Settings(detector="hog", upsample=args.upsample, crop_size=args.crop_size)
        journal = pipeline.Journal(out, None, [])
        translate(np.zeros((1, args.crop_size, args.crop_size, 3), np.uint8))  # first-call set-up not timed
        t0 = time.perf_counter()
        stats = pipeline.run(items, out, settings, translate, args.test_batch_size, args.num_threads, None, {},
                             journal, list(range(len(items))), say=lambda text: None)
        whole = time.perf_counter() - t0

        n_cnn = min(len(paths), args.cnn_photos)
        cnn = FaceFinder("cnn", args.upsample)
        masked_found = {"hog": 0, "cnn": 0}
        t0 = time.perf_counter()
        for path in paths[:n_cnn]:
            cnn.detect(pipeline.read_photo(path)[0])
        cnn_s = (time.perf_counter() - t0) / max(1, n_cnn)
        for path in paths[:n_cnn]:
            rgb = pipeline.read_photo(path)[0]
            masked = draw_masks(rgb, finder.find(rgb))
            masked_found["hog"] += len(finder.detect(masked))
            masked_found["cnn"] += len(cnn.detect(masked))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n, faces = len(paths), sum(counts)
    slowest = max(alone, key=alone.get)
    return {"photos": n, "faces_placed": faces, "faces_found_hog": found, "faces_found_pipeline": stats.faces,
            "photo_size": 1024, "crop_size": args.crop_size, "netG": args.netG, "amp": args.amp,
            "amp_resolved": args.amp_resolved,
            "workers": args.num_threads, "upsample": args.upsample,
            "stage_photos_per_s": {k: n / v for k, v in alone.items() if v > 0},
            "stage_s_per_photo": {k: v / n for k, v in alone.items()},
            "slowest_stage": slowest, "sum_of_stages_s_per_photo": sum(alone.values()) / n,
            "whole_photos_per_s": n / whole, "whole_faces_per_s": stats.faces / whole,
            "whole_over_slowest": (n / whole) / (n / alone[slowest]),
            "cnn_detect_s_per_photo": cnn_s, "hog_detect_s_per_photo": alone["detect"] / n,
            "masked_photos": n_cnn, "masked_faces": sum(counts[:n_cnn]),
            "masked_found_hog": masked_found["hog"], "masked_found_cnn": masked_found["cnn"]}


# Face statuses in mask_photos.py's summary.json that mean the face was left as it was.
UNMASKED_STATUSES = ("too_small", "kept_original", "pending")
MASKTHEFACE_TYPES = {"surgical": "surgical", "n95": "N95", "kn95": "KN95", "cloth": "cloth"}


def timed_command(command: list[str], cwd: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - t0, done


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_ours(photos: Path, work: Path, args) -> dict:
    """scripts/mask_photos.py --method render as a user runs it (its own detector defaults; the first
    --mask_type), best of ``--repeats`` runs, each into a fresh folder."""
    script = Path(__file__).resolve().parent / "mask_photos.py"
    best = None
    walls = []
    for r in range(args.repeats):
        out = work / f"ours_{r}"
        command = [sys.executable, str(script), "--method", "render", "--mask_type", args.mask_type[0],
                   "--input", str(photos), "--output", str(out), "--num_threads", str(args.num_threads)]
        wall, done = timed_command(command)
        if done.returncode != 0:
            return {"ours_error": f"exit {done.returncode}: {last_line(done.stderr or done.stdout)}",
                    "ours_command": "python " + " ".join(command[1:])}
        walls.append(wall)
        if best is None or wall < best[0]:
            best = wall, json.loads((out / "summary.json").read_text()), command
    wall, summary, command = best
    statuses = summary["faces_by_status"]
    run = summary["this_run"]
    return {"ours_command": "python " + " ".join(command[1:]), "ours_wall_s": wall, "ours_wall_s_each": walls,
            "ours_run_s": run["seconds"], "ours_startup_s": wall - run["seconds"],
            "ours_faces_by_status": statuses,
            "ours_faces_masked": sum(n for status, n in statuses.items() if status not in UNMASKED_STATUSES),
            "ours_stage_seconds": run["stage_seconds"],
            **{f"ours_{k}": summary.get("arguments", {}).get(k) for k in ("detector", "upsample", "min_score")}}


def run_maskthefaced(photos: Path, work: Path, args) -> dict:
    """MaskTheFace's mask_the_face.py on a copy of the photos, best of ``--repeats`` runs. It writes
    ``<folder>_masked`` and, with --verbose, prints "Faces found: N" per photo: it puts a mask on every
    face its detector finds, so the sum of those lines is the faces it masked. Its start-up (imports,
    the landmark model) is timed on an empty folder."""
    import shutil

    home = Path(args.maskthefaced_dir).resolve()
    if not (home / "mask_the_face.py").is_file():
        raise UserError(f"--maskthefaced_dir {home}: no mask_the_face.py there")
    python = args.maskthefaced_python or sys.executable
    kind = MASKTHEFACE_TYPES[args.mask_type[0]]
    copy = work / "maskthefaced" / "photos"
    shutil.copytree(photos, copy)
    empty = work / "maskthefaced" / "empty"
    empty.mkdir()
    walls, startups = [], []
    for _ in range(args.repeats):
        shutil.rmtree(f"{copy}_masked", ignore_errors=True)
        command = [python, "mask_the_face.py", "--path", str(copy), "--mask_type", kind, "--verbose"]
        wall, done = timed_command(command, cwd=home)
        if done.returncode != 0:
            raise UserError(f"MaskTheFace failed (exit {done.returncode}): {last_line(done.stderr)}")
        walls.append(wall)
        startups.append(timed_command([python, "mask_the_face.py", "--path", str(empty), "--mask_type", kind],
                                      cwd=home)[0])
    found = [int(line.split(":")[1]) for line in done.stdout.splitlines() if line.startswith("Faces found:")]
    written = sorted(Path(f"{copy}_masked").glob("*"))
    return {"maskthefaced_command": " ".join(command), "maskthefaced_wall_s": min(walls),
            "maskthefaced_wall_s_each": walls, "maskthefaced_startup_s": min(startups),
            "maskthefaced_faces_masked": sum(found), "maskthefaced_photos_with_faces": sum(n > 0 for n in found),
            "maskthefaced_photos_written": len(written), "maskthefaced_mask_type": kind}


def render_alone(paths: list[Path], args) -> dict:
    """The FFHQ case: landmarks known. Faces are found once (HOG, timed apart), then each mask type's
    MaskRenderer.render is timed over every face, each photo's faces drawn one after another."""
    import numpy as np

    from util.faces.detect import FaceFinder
    from util.faces.photos import read_photo
    from util.masks import MaskRenderer
    from util.masks.texture import MASK_TYPES

    finder = FaceFinder("hog", args.upsample)
    finder.landmarks(np.zeros((64, 64, 3), np.uint8), (8, 8, 56, 56))  # loads the 100 MB model, not timed
    photos = []
    detect_s = landmarks_s = 0.0
    for path in paths:
        rgb = read_photo(path)[0]
        t0 = time.perf_counter()
        boxes = finder.detect(rgb)
        t1 = time.perf_counter()
        landmarks = [finder.landmarks(rgb, box) for box, _ in boxes]
        landmarks_s += time.perf_counter() - t1
        detect_s += t1 - t0
        photos.append((path.name, rgb, landmarks, [box[2] - box[0] for box, _ in boxes]))
    faces = sum(len(lms) for _, _, lms, _ in photos)
    out = {"render_faces_found": faces, "detect_s_per_photo": detect_s / len(paths),
           "landmarks_s_per_face": landmarks_s / max(1, faces),
           "face_box_px_median": float(np.median([w for *_, widths in photos for w in widths])) if faces else None,
           "render_faces_per_s": {}, "render_ms_per_face": {}, "render_first_call_s": {}}
    if not faces:
        return out
    first = next((rgb, lms[0]) for _, rgb, lms, _ in photos if lms)
    for mask_type in args.mask_type:
        renderer = MaskRenderer(mask_type=mask_type)
        t0 = time.perf_counter()
        renderer.render(first[0], first[1], "warm-up")  # whatever the renderer builds once, not timed below
        out["render_first_call_s"][mask_type] = time.perf_counter() - t0
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for name, rgb, landmarks, _ in photos:
                result = rgb
                for k, lm in enumerate(landmarks):
                    result = renderer.render(result, lm, f"{name}:{k}").photo
            best = min(best, time.perf_counter() - t0)
        out["render_faces_per_s"][mask_type] = faces / best
        out["render_ms_per_face"][mask_type] = 1000 * best / faces
    # FFHQ itself: each face cut along its FFHQ square at 1024 px, its landmarks carried along
    ffhq = [ffhq_like(rgb, lm) for _, rgb, lms, _ in photos for lm in lms]
    out["render_ffhq_faces_per_s"] = {}
    for mask_type in args.mask_type:
        renderer = MaskRenderer(mask_type=mask_type)
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for k, (image, lm) in enumerate(ffhq):
                renderer.render(image, lm, f"ffhq:{k}")
            best = min(best, time.perf_counter() - t0)
        out["render_ffhq_faces_per_s"][mask_type] = len(ffhq) / best
    out["render_types_known"] = list(MASK_TYPES)
    return out


def ffhq_like(rgb, landmarks):
    """A face as FFHQ stores it: cut along its FFHQ square at 1024 x 1024 px, with its landmarks."""
    from util.faces.align import align, ffhq_quad, image_to_crop

    quad = ffhq_quad(landmarks)
    to_crop = image_to_crop(quad, 1024)
    return align(rgb, quad, 1024), (landmarks - 0.5) @ to_crop[:, :2].T + to_crop[:, 2] + 0.5


def render_mode(args) -> dict:
    import shutil

    from util.masks.texture import MASK_TYPES

    for mask_type in args.mask_type:
        if mask_type not in MASK_TYPES:
            raise UserError(f"--mask_type {mask_type}: the renderer knows {', '.join(MASK_TYPES)}")
    work = Path(tempfile.mkdtemp(prefix="render_bench_"))
    try:
        counts = benchmark_photos(work / "photos", args.photos, hopper=True)
        paths = sorted((work / "photos").iterdir())
        n, placed = len(paths), sum(counts)
        out = {"photos": n, "faces_placed": placed, "photo_size": 1024,
               "face_sources": ["astronaut", "grace_hopper"],
               "workers": args.num_threads, "upsample": args.upsample, "repeats": args.repeats,
               "mask_types": args.mask_type, "cores": os.cpu_count()}
        out.update(run_ours(work / "photos", work, args))
        if "ours_wall_s" in out:
            out["ours_photos_per_s"] = n / out["ours_wall_s"]
            out["ours_faces_per_s"] = out["ours_faces_masked"] / out["ours_wall_s"]
        if args.maskthefaced_dir:
            out.update(run_maskthefaced(work / "photos", work, args))
            out["maskthefaced_photos_per_s"] = n / out["maskthefaced_wall_s"]
            out["maskthefaced_faces_per_s"] = out["maskthefaced_faces_masked"] / out["maskthefaced_wall_s"]
            if "ours_wall_s" in out:
                out["ours_over_maskthefaced"] = out["ours_photos_per_s"] / out["maskthefaced_photos_per_s"]
        out.update(render_alone(paths, args))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def print_render_table(r: dict) -> None:
    print(f"render: {r['photos']} photos of {r['photo_size']} px, {r['faces_placed']} faces placed "
          f"({' + '.join(r['face_sources'])}), best of {r['repeats']}, {r['cores']} cores")
    print(f"  {'whole command':<28}{'wall s':>8}{'start-up s':>12}{'photos/s':>10}{'faces/s':>9}{'masked':>8}")
    rows = [("ours", "mask_photos --method render", r.get("ours_startup_s"), r.get("ours_faces_masked")),
            ("maskthefaced", "MaskTheFace", r.get("maskthefaced_startup_s"), r.get("maskthefaced_faces_masked"))]
    for key, label, startup, masked in rows:
        if f"{key}_wall_s" in r:
            print(f"  {label:<28}{r[key + '_wall_s']:>8.2f}{startup:>12.2f}{r[key + '_photos_per_s']:>10.2f}"
                  f"{r[key + '_faces_per_s']:>9.2f}{masked:>8}")
    if "ours_error" in r:
        print(f"  mask_photos --method render failed: {r['ours_error']}")
    if "ours_over_maskthefaced" in r:
        print(f"  ours / MaskTheFace, photos/s: {r['ours_over_maskthefaced']:.2f}x")
    if "ours_wall_s" in r:
        print(f"  ours found faces with --detector {r['ours_detector']}, upsample {r['ours_upsample'] or 'auto'} "
              f"(its defaults); MaskTheFace with dlib's HOG at upsample 1, no score threshold")
    print(f"  FaceFinder('hog', upsample {r['upsample']}): {r['detect_s_per_photo']:.3f} s/photo, "
          f"landmarks {1000 * r['landmarks_s_per_face']:.1f} ms/face, {r['render_faces_found']} faces found")
    for mask_type, rate in r["render_faces_per_s"].items():
        print(f"  render alone, {mask_type}: {rate:.1f} faces/s ({r['render_ms_per_face'][mask_type]:.1f} ms/face; "
              f"first call {r['render_first_call_s'][mask_type]:.2f} s); on FFHQ-size 1024 px faces "
              f"{r['render_ffhq_faces_per_s'][mask_type]:.1f} faces/s")


def ffhq_folder(root: Path, count: int, size: int) -> None:
    """``count`` aligned faces of ``size`` px as FFHQ lays them out (images/NNNNN/NNNNN.png) with an
    ffhq-dataset-v2.json of their landmarks (dlib's convention: pixel centres at integers)."""
    import numpy as np
    from PIL import Image

    from util.faces import align
    from util.faces.detect import FaceFinder
    from util.faces.sample_photos import astronaut, grace_hopper

    finder = FaceFinder("hog")
    faces = []
    for photo in (astronaut(), grace_hopper()):
        quad = align.ffhq_quad(finder.find(photo)[0].landmarks)
        crop = align.align(photo, quad, 512)
        for variant in (crop, np.ascontiguousarray(crop[:, ::-1]), (crop * 0.75).astype(np.uint8)):
            faces.append((variant, finder.find(variant)[0].landmarks))  # found on the variant itself
    meta = {}
    for key in range(count):
        crop, marks = faces[key % len(faces)]
        rel = f"images/{key // 1000 * 1000:05d}/{key:05d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS).save(root / rel, compress_level=3)
        points = (marks * (size / 512) - 0.5).round(2).tolist()
        meta[str(key)] = {"image": {"file_path": rel, "pixel_size": [size, size], "face_landmarks": points}}
    (root / "ffhq-dataset-v2.json").write_text(json.dumps(meta))


def dataset_mode(args) -> dict:
    """render_masked_faces.py on FFHQ-like faces, 1 worker and one per core, at each size."""
    import re
    import shutil

    cores = os.cpu_count() or 1
    script = Path(__file__).resolve().parent.parent / "datasets" / "render_masked_faces.py"
    out = {"faces": args.faces, "cores": cores, "repeats": args.repeats, "mask_type": "random",
           "wear_mix": "default", "sizes": {}}
    for size in args.dataset_sizes:
        work = Path(tempfile.mkdtemp(prefix="dataset_bench_"))
        try:
            ffhq_folder(work / "ffhq", args.faces, size)
            row = {}
            for workers in sorted({1, cores}):
                best, stages = float("inf"), {}
                for _ in range(args.repeats):
                    shutil.rmtree(work / "out", ignore_errors=True)
                    command = [sys.executable, str(script), "--src", str(work / "ffhq" / "images"), "--landmarks",
                               str(work / "ffhq" / "ffhq-dataset-v2.json"), "--out", str(work / "out"),
                               "--size", str(size), "--mask_type", "random", "--workers", str(workers)]
                    wall, done = timed_command(command)
                    if done.returncode != 0:
                        raise UserError(f"render_masked_faces.py failed: {last_line(done.stderr)}")
                    if wall < best:
                        best = wall
                        stages = {k: float(v) / 1000 for k, v in
                                  re.findall(r"([a-z+]+) ([\d.]+) ms", done.stdout.split("per face")[-1])}
                row[f"workers_{workers}"] = {"wall_s": best, "faces_per_s": args.faces / best,
                                            "stage_s_per_face": stages}
            # per core in the steady state: one worker's stages, without the command's start-up
            row["faces_per_s_per_core"] = 1 / sum(row["workers_1"]["stage_s_per_face"].values())
            row["render_alone_faces_per_s_per_core"] = 1 / row["workers_1"]["stage_s_per_face"]["render"]
            row["ffhq_70k_hours_all_cores"] = 70_000 / row[f"workers_{cores}"]["faces_per_s"] / 3600
            out["sizes"][str(size)] = row
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out


def print_dataset_table(r: dict) -> None:
    print(f"dataset: {r['faces']} FFHQ-like faces, landmarks given, random mask types, best of {r['repeats']}, "
          f"{r['cores']} cores")
    print(f"  {'size':>6}{'faces/s/core':>14}{'render alone':>14}{'all cores':>11}{'FFHQ 70k, h':>13}"
          "  stages (1 worker)")
    print("  (faces/s/core: one worker's stages; all cores: the whole command with a worker per core, start-up "
          "included; FFHQ 70k: at the all-cores rate)")
    for size, row in r["sizes"].items():
        every = row[f"workers_{r['cores']}"]["faces_per_s"]
        stages = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in row["workers_1"]["stage_s_per_face"].items())
        print(f"  {size:>6}{row['faces_per_s_per_core']:>14.2f}{row['render_alone_faces_per_s_per_core']:>14.2f}"
              f"{every:>11.2f}{row['ffhq_70k_hours_all_cores']:>13.2f}  {stages}")


MODES = {"train": train_mode, "test": test_mode, "data": data_mode}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["train", "test", "data", "all", "fid", "sizes", "photos", "render", "dataset"],
                   default="all")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when there is one")
    p.add_argument("--crop_size", type=int, default=128)
    p.add_argument("--load_size", type=int, default=None, help="data mode: resize to this first (default crop + 30)")
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--iters", type=int, default=10, help="timed training iterations per setting")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first (compilation happens here)")
    p.add_argument("--netG", default="resnet_9blocks")
    p.add_argument("--ngf", type=int, default=64, help="generator width (train, test and photos modes)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (train mode)")
    p.add_argument("--model", choices=["cycle_gan", "pix2pix"], default="cycle_gan", help="train mode: which model's step")
    p.add_argument("--amp", choices=["none", "bf16", "fp16", "auto"], default="none",
                   help="auto: bf16 where the device computes it natively, otherwise none (as train.py)")
    p.add_argument("--channels_last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--stack_passes", action="store_true")
    p.add_argument("--adam_impl", choices=["auto", "for_loop", "foreach", "fused"], default="auto")
    p.add_argument("--test_batch_size", type=int, nargs="+", default=[16],
                   help="test mode: batch sizes of the fast path (the first also batches photos mode's faces)")
    p.add_argument("--test_images", type=int, default=64, help="images per inference measurement")
    p.add_argument("--data_images", type=int, default=32, help="PNGs per domain and size in data mode")
    p.add_argument("--data_epochs", type=int, default=2)
    p.add_argument("--num_threads", type=int, default=None,
                   help="data loader workers (default 4, capped at the cores); photos and render modes: "
                        "mask_photos.py's worker processes (default 4 and 2)")
    p.add_argument("--peak_tflops", type=float, default=None, help="the GPU's dense bf16 peak, if not known here")
    p.add_argument("--images", type=int, default=200, help="fid mode: images per folder")
    p.add_argument("--size", type=int, default=256, help="fid mode: image side in pixels")
    p.add_argument("--dims", type=int, default=2048)
    p.add_argument("--inception_weights", default=None)
    p.add_argument("--no_reference", action="store_true",
                   help="fid mode: time scripts/fid.py alone, without pytorch-fid's own path")
    p.add_argument("--scan_images", type=int, default=70_000, help="sizes mode: files to scan")
    p.add_argument("--scan_dir", default=None, help="sizes mode: scan this folder's images instead")
    p.add_argument("--photos", type=int, default=12, help="photos mode: 1024 px photos (1 to 4 faces each)")
    p.add_argument("--upsample", type=int, default=1, help="photos mode: the detectors' upsampling")
    p.add_argument("--cnn_photos", type=int, default=2, help="photos mode: photos the CNN detector is timed on")
    p.add_argument("--mask_type", nargs="+", default=["surgical"],
                   help="render mode: mask types timed alone (the first one also for MaskTheFace)")
    p.add_argument("--repeats", type=int, default=3, help="render mode: runs of each measurement; the best is kept")
    p.add_argument("--maskthefaced_dir", default=None, help="render mode: a MaskTheFace checkout to time alongside")
    p.add_argument("--maskthefaced_python", default=None,
                   help="render mode: the Python that runs MaskTheFace (default: this one)")
    p.add_argument("--faces", type=int, default=48, help="dataset mode: FFHQ-like faces rendered per size")
    p.add_argument("--dataset_sizes", type=int, nargs="+", default=[256, 1024], help="dataset mode: face sizes")
    p.add_argument("--cold", action="store_true", help="sizes mode: drop the page cache first (root, Linux)")
    p.add_argument("--json", action="store_true", help="(the JSON line is always printed last)")
    args = p.parse_args(argv)
    args.test_batch_sizes, args.test_batch_size = args.test_batch_size, args.test_batch_size[0]
    if args.load_size is None:
        args.load_size = args.crop_size + 30 * args.crop_size // 256
    if args.num_threads is None:
        args.num_threads = 2 if args.mode == "render" else 4
    if args.repeats < 1:
        raise UserError(f"--repeats must be 1 or more, got {args.repeats}")
    if args.mode == "dataset":  # no torch either
        if args.faces < 1 or min(args.dataset_sizes) < 32:
            raise UserError("--faces must be 1 or more and --dataset_sizes 32 px or more")
        result = {"mode": "dataset", "cpu": cpu_description(), **dataset_mode(args)}
        print_dataset_table(result)
        print(json.dumps(result))
        return 0
    if args.mode == "render":  # no torch: the renderer and MaskTheFace need none
        result = {"mode": "render", "cpu": cpu_description(), **render_mode(args)}
        print_render_table(result)
        print(json.dumps(result))
        return 1 if "ours_error" in result else 0

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device here; use --device cpu")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.mode in ("fid", "sizes"):
        result = (fid_mode if args.mode == "fid" else sizes_mode)(args)
        print(json.dumps({"mode": args.mode, "cpu": cpu_description(), **result}))
        return 0
    from models import acceleration

    acceleration.configure_backends(device, cudnn_benchmark=True)
    args.amp_resolved = acceleration.choose_amp(args.amp, device, lambda line: print(f"benchmark.py: warning: {line}"))
    amp_basis = amp_evidence(device)
    if args.mode == "photos":
        result = photos_mode(args, device)
        print(json.dumps({"mode": "photos", "device": device.type, "device_name": device_name(device),
                          "cpu": cpu_description(), **amp_basis, "torch": torch.__version__,
                          "threads": torch.get_num_threads(), **result}))
        return 0
    settings = {k: getattr(args, k) for k in ("model", "crop_size", "batch_size", "iters", "warmup", "netG", "amp",
                                               "amp_resolved", "channels_last", "compile", "stack_passes", "adam_impl",
                                               "ngf", "ndf", "test_batch_size", "load_size", "num_threads")}
    result = {"mode": args.mode, "device": device.type, "device_name": device_name(device), "cpu": cpu_description(),
              **amp_basis, "torch": torch.__version__, "threads": torch.get_num_threads(), "settings": settings}
    for mode, measure in MODES.items():
        if args.mode in (mode, "all"):
            part = measure(args, device)
            result.update(part)
            print(f"{mode}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in part.items()), flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "benchmark.py"))
