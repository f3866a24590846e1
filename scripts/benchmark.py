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
seconds per call (one image, or one batch).

``--mode data``: the training DataLoader (decode, resize to --load_size, crop, flip; one A and one
B image per sample) in images/s (samples/s x 2) from synthetic photo-like PNGs of 1024 px (FFHQ's
size) and of 286 px (pre-resized), with ``--num_threads`` workers.

``--mode fid``: scripts/fid.py's path against pytorch-fid's own ``calculate_fid_given_paths`` on the
same two folders of generated PNGs, with the same weights file; reports seconds, images/s, the
speed-up and both FID values. Without ``--inception_weights`` a random-weights file of the same
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

``--mode all`` runs train, test and data. The last line printed is always one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
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
            "--batch_size", str(args.batch_size), "--netG", args.netG, "--seed", "0", "--gpu_ids", "-1",
            "--model", args.model]
    if fast:
        argv += ["--amp", args.amp, "--adam_impl", args.adam_impl]
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


def time_inference(args, device, fast: bool) -> tuple[float, float]:
    """Images/s and seconds per call of G_AB: one image at a time in plain fp32 (the classic loop),
    or batched and fast."""
    import torch

    from models import acceleration
    from models.networks import define_G

    torch.manual_seed(0)
    batch = args.test_batch_size if fast else 1
    channels_last = fast and args.channels_last
    net = acceleration.prepare(define_G(args.netG, 3, 3, ngf=64, norm="instance"), device, channels_last)
    run = acceleration.runner(net, device, compile=fast and args.compile)
    amp = args.amp if fast else "none"
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
    fast, fast_s = time_inference(args, device, fast=True)
    return {"test_img_per_s_fp32": plain, "test_img_per_s": fast, "test_speedup": fast / plain,
            "test_s_per_iter_fp32": plain_s, "test_s_per_iter": fast_s, "test_batch_size": args.test_batch_size}


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
    device = "cuda" if torch.cuda.is_available() else "cpu"

    from pytorch_fid.fid_score import calculate_fid_given_paths
    t0 = time.perf_counter()
    ref = float(calculate_fid_given_paths([str(f) for f in folders], 50, device, args.dims, workers))
    t_ref = time.perf_counter() - t0

    from scripts.fid import main as fid_main
    t0 = time.perf_counter()
    fid_main([str(folders[0]), str(folders[1]), "--dims", str(args.dims), "--device", device,
              "--inception_weights", str(weights)])
    t_ours = time.perf_counter() - t0
    n = 2 * args.images
    return {"mode": "fid", "device": device, "images": n, "size": args.size, "dims": args.dims,
            "threads": torch.get_num_threads(), "workers": workers,
            "fid_s": t_ours, "fid_img_per_s": n / t_ours, "pytorch_fid_s": t_ref, "pytorch_fid_img_per_s": n / t_ref,
            "fid_speedup": t_ref / t_ours, "fid_pytorch_fid": ref, "cpu": platform.processor() or platform.machine()}


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


def benchmark_photos(folder: Path, count: int, seed: int = 0) -> list[int]:
    """``count`` 1024 px PNGs with 1, 2, 3, 4, 1, ... faces each; returns the face counts."""
    import random

    from PIL import Image

    from util.faces.sample_photos import compose, placement

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    counts = []
    cells = [(256, 280), (768, 280), (256, 760), (768, 760)]
    for k in range(count):
        n = 1 + k % 4
        places = [placement(rng.uniform(1.2, 1.6), rng.uniform(-8, 8), rng.random() < 0.5, cells[c])
                  for c in rng.sample(range(4), n)]
        Image.fromarray(compose((1024, 1024), places, seed=k)).save(folder / f"{k:03d}.png")
        counts.append(n)
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
        net = acceleration.prepare(define_G(args.netG, 3, 3, ngf=64, norm="instance"), device, args.channels_last)
        net.eval()
        layout = acceleration.memory_format(args.channels_last)

        def translate(crops):
            batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
            with torch.inference_mode(), acceleration.autocast(device, args.amp):
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
            "workers": args.num_threads, "upsample": args.upsample,
            "stage_photos_per_s": {k: n / v for k, v in alone.items() if v > 0},
            "stage_s_per_photo": {k: v / n for k, v in alone.items()},
            "slowest_stage": slowest, "sum_of_stages_s_per_photo": sum(alone.values()) / n,
            "whole_photos_per_s": n / whole, "whole_faces_per_s": stats.faces / whole,
            "whole_over_slowest": (n / whole) / (n / alone[slowest]),
            "cnn_detect_s_per_photo": cnn_s, "hog_detect_s_per_photo": alone["detect"] / n,
            "masked_photos": n_cnn, "masked_faces": sum(counts[:n_cnn]),
            "masked_found_hog": masked_found["hog"], "masked_found_cnn": masked_found["cnn"]}


MODES = {"train": train_mode, "test": test_mode, "data": data_mode}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["train", "test", "data", "all", "fid", "sizes", "photos"], default="all")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when there is one")
    p.add_argument("--crop_size", type=int, default=128)
    p.add_argument("--load_size", type=int, default=None, help="data mode: resize to this first (default crop + 30)")
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--iters", type=int, default=10, help="timed training iterations per setting")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first (compilation happens here)")
    p.add_argument("--netG", default="resnet_9blocks")
    p.add_argument("--model", choices=["cycle_gan", "pix2pix"], default="cycle_gan", help="train mode: which model's step")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    p.add_argument("--channels_last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--stack_passes", action="store_true")
    p.add_argument("--adam_impl", choices=["auto", "for_loop", "foreach", "fused"], default="auto")
    p.add_argument("--test_batch_size", type=int, default=16)
    p.add_argument("--test_images", type=int, default=64, help="images per inference measurement")
    p.add_argument("--data_images", type=int, default=32, help="PNGs per domain and size in data mode")
    p.add_argument("--data_epochs", type=int, default=2)
    p.add_argument("--num_threads", type=int, default=4, help="data loader workers (capped at the cores)")
    p.add_argument("--peak_tflops", type=float, default=None, help="the GPU's dense bf16 peak, if not known here")
    p.add_argument("--images", type=int, default=200, help="fid mode: images per folder")
    p.add_argument("--size", type=int, default=256, help="fid mode: image side in pixels")
    p.add_argument("--dims", type=int, default=2048)
    p.add_argument("--inception_weights", default=None)
    p.add_argument("--scan_images", type=int, default=70_000, help="sizes mode: files to scan")
    p.add_argument("--scan_dir", default=None, help="sizes mode: scan this folder's images instead")
    p.add_argument("--photos", type=int, default=12, help="photos mode: 1024 px photos (1 to 4 faces each)")
    p.add_argument("--upsample", type=int, default=1, help="photos mode: the detectors' upsampling")
    p.add_argument("--cnn_photos", type=int, default=2, help="photos mode: photos the CNN detector is timed on")
    p.add_argument("--cold", action="store_true", help="sizes mode: drop the page cache first (root, Linux)")
    p.add_argument("--json", action="store_true", help="(the JSON line is always printed last)")
    args = p.parse_args(argv)
    if args.load_size is None:
        args.load_size = args.crop_size + 30 * args.crop_size // 256

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
    if args.mode == "photos":
        result = photos_mode(args, device)
        print(json.dumps({"mode": "photos", "device": device.type, "device_name": device_name(device),
                          "cpu": cpu_description(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                          **result}))
        return 0
    settings = {k: getattr(args, k) for k in ("model", "crop_size", "batch_size", "iters", "warmup", "netG", "amp",
                                               "channels_last", "compile", "stack_passes", "adam_impl",
                                               "test_batch_size", "load_size", "num_threads")}
    result = {"mode": args.mode, "device": device.type, "device_name": device_name(device), "cpu": cpu_description(),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "settings": settings}
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
