"""Translate images with a trained CycleGAN or pix2pix model.

    # both directions of a run: testA -> fake_B (+ rec_A), testB -> fake_A (+ rec_B)
    python test.py --dataroot datasets/toyfaces --name toy --model cycle_gan
    # one folder through one generator (_A puts masks on, _B takes them off)
    python test.py --dataroot my_faces/ --name toy --model test --model_suffix _A --num_test 100000
    # a pix2pix run on aligned AB images <dataroot>/test/NAME.png: NAME_real_A, NAME_fake_B, NAME_real_B
    python test.py --dataroot datasets/masks_paired --name p2p --model pix2pix

Architecture flags (--netG, --ngf, --norm, --no_dropout, --input_nc, --output_nc, --attention) come
from the run's ``train_opt.json`` when not given, or, for a checkpoint without one (a classic released
model), from the checkpoint itself; a flag that contradicts the checkpoint is one clear error. A
pix2pix run's ``--direction`` comes from its train_opt.json too (give it for a classic checkpoint).

pix2pix writes the classic ``real_A`` (the input half: the left one, or the right one with
``--direction BtoA``), ``fake_B`` (G's translation) and ``real_B`` (the other half, the true
target). With ``--dataset_mode single`` it translates every image of ``--dataroot`` itself
(``real_A`` and ``fake_B``). Without ``--eval`` its U-Net keeps dropout on, as in the classic code.

Writes ``<results_dir>/<name>/<phase>_<epoch>/images/<name>_<label>.png`` (sub-folders of the input
kept), an ``index.html`` showing them side by side, and the options used (``test_opt.txt``/``.json``).
A run trained with ``--attention`` (taken from train_opt.json or read off the weights like the flags
above) also writes each generator's attention map as a greyscale PNG beside its fake: ``attn_B``
(G_AB's map for ``fake_B``), ``attn_A`` (G_BA's, for ``fake_A``), or ``attn`` with ``--model test``;
white is alpha 1 (the generator's content), black alpha 0 (the input kept).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from data import check_even_widths, check_sizes_fit, collate_images, half_sizes, header_sizes, loader_workers
from data.datasets import AlignedTestDataset, SingleDataset
from data.transforms import SIZE_DEPENDENT_MODES
from models import MODELS, acceleration, other_model_hint
from models.common import select_device
from models.networks import size_multiple
from options.base_options import (GENERATOR_FLAGS, adopt_run_flags, check_size_fits_generator, load_run_options,
                                  save_options, usable_gpu_ids)
from options.test_options import parse_test_options
from util.checkpoint import infer_generator_flags, net_path, safe_load
from util.errors import UserError, run_cli
from util.html import HTMLPage
from util.image_io import ImageWriter, maps_to_images, tensors_to_images

DATA_FLAGS = ("crop_size", "preprocess")  # test at the training scale unless told otherwise
DEFAULT_TEST_BATCH = 16


def checkpoint_label(opt) -> str:
    return f"iter_{opt.load_iter}" if opt.load_iter > 0 else opt.epoch


def generator_files(opt) -> list[str]:
    return ["G" + opt.model_suffix] if opt.model == "test" else list(MODELS[opt.model].GENERATOR_FILES)


def resolve_architecture(opt, given: set[str], run_dir: Path) -> None:
    """Fill in the flags not given from the run's options or, failing that, the checkpoint."""
    label = checkpoint_label(opt)
    first = net_path(run_dir, label, generator_files(opt)[0])
    if not first.is_file():
        raise UserError(f"no checkpoint {first}: check --name, --checkpoints_dir, --epoch, --load_iter"
                        + (" and --model_suffix" if opt.model == "test" else "")
                        + other_model_hint(run_dir, label, opt.model))
    run = load_run_options(run_dir)
    if run is not None:
        if opt.model == "test" and opt.model_suffix == "_B":  # G_BA maps B (output_nc) to A (input_nc)
            run = dict(run, input_nc=run.get("output_nc"), output_nc=run.get("input_nc"))
        flags = GENERATOR_FLAGS
        if "no_dropout" in given and str(run.get("netG", "")).startswith("unet"):
            # A U-Net's dropout has no weights: --no_dropout only turns it off for this test, as classically.
            flags = tuple(flag for flag in flags if flag != "no_dropout")
        adopt_run_flags(opt, given, run, flags, f"{run_dir}/train_opt.json")
        for flag in DATA_FLAGS + (("direction",) if opt.model == "pix2pix" else ()):
            if flag not in given and flag in run:
                setattr(opt, flag, run[flag])
    else:
        inferred = infer_generator_flags(safe_load(first)) or {}
        for flag, value in inferred.items():
            if flag not in given and value is not None:
                setattr(opt, flag, value)
    if opt.attention and opt.input_nc != opt.output_nc:
        raise UserError(f"--attention needs --input_nc and --output_nc equal (they are {opt.input_nc} and "
                        f"{opt.output_nc}): an attention generator blends its image with its input")
    if opt.load_size is None:
        opt.load_size = opt.crop_size
    if opt.batch_size is None:
        opt.batch_size = default_batch_size(opt)
    check_size_fits_generator(opt)


def default_batch_size(opt) -> int:
    """Per-image norms make batching free; batch norm in training mode (no --eval) would mix the
    images of a batch, so it keeps the classic one image at a time."""
    return 1 if opt.norm == "batch" and not opt.eval else DEFAULT_TEST_BATCH


def results_folder(opt) -> Path:
    folder = Path(opt.results_dir) / opt.name / f"{opt.phase}_{opt.epoch}"
    return folder.with_name(folder.name + f"_iter{opt.load_iter}") if opt.load_iter > 0 else folder


def output_name(relpath: str, label: str) -> str:
    rel = Path(relpath)
    return str(rel.with_name(f"{rel.stem}_{label}.png"))


class ResultsPage:
    """index.html with the first ``max_rows`` results (a page of 70,000 rows helps nobody)."""

    def __init__(self, out_dir: Path, title: str, max_rows: int, width: int):
        self.page = HTMLPage(out_dir, title) if max_rows > 0 else None
        self.max_rows, self.width, self.rows = max_rows, width, 0

    def add(self, relpath: str, images: list[str], labels: list[str]) -> None:
        self.rows += 1
        if self.page is not None and self.rows <= self.max_rows:
            self.page.add_header(relpath)
            self.page.add_images(images, labels, width=self.width)

    def save(self) -> None:
        if self.page is None:
            return
        if self.rows > self.max_rows:
            self.page.add_header(f"... and {self.rows - self.max_rows} more in images/ "
                                 f"(--max_html_rows {self.max_rows})")
        self.page.save()


def test_jobs(opt) -> list[tuple[Dataset, str, str]]:
    """(dataset, direction, what) of each folder to translate. Every folder is scanned (and checked)
    here, before any result is written: AB images of odd width, and, under a size-keeping --preprocess,
    sides the generator cannot take (of the --num_test images that will be translated)."""
    a_nc, b_nc = (opt.input_nc, opt.output_nc) if opt.direction == "AtoB" else (opt.output_nc, opt.input_nc)
    root = Path(opt.dataroot)
    multiple = size_multiple(opt.netG)
    if opt.model == "pix2pix" and opt.dataset_mode == "aligned":
        dataset = AlignedTestDataset(opt.dataroot, opt.phase, opt.max_dataset_size, opt.preprocess, opt.load_size,
                                     opt.crop_size, opt.direction, a_nc, b_nc)
        paths = dataset.AB_paths[:opt.num_test]
        check_sizes_fit(paths, half_sizes(check_even_widths(paths, str(dataset.root))), opt, multiple, halves=True)
        return [(dataset, opt.direction, str(dataset.root))]
    if opt.model == "cycle_gan":
        folders = [(root / f"{opt.phase}A", "AtoB", a_nc, f"{opt.phase}A"),
                   (root / f"{opt.phase}B", "BtoA", b_nc, f"{opt.phase}B")]
        if opt.direction == "BtoA":
            folders = [(folder, "BtoA" if d == "AtoB" else "AtoB", nc, what) for folder, d, nc, what in folders]
    else:  # one folder through one generator: --model test, or pix2pix's G with --dataset_mode single
        folders = [(root, opt.direction if opt.model == "pix2pix" else "AtoB", opt.input_nc, "--dataroot")]
    jobs = [(SingleDataset(str(folder), opt.max_dataset_size, opt.preprocess, opt.load_size, opt.crop_size,
                           channels, what=what), direction, what) for folder, direction, channels, what in folders]
    if multiple > 4 and opt.preprocess in SIZE_DEPENDENT_MODES:
        for dataset, _, _ in jobs:
            paths = dataset.paths[:opt.num_test]
            check_sizes_fit(paths, header_sizes(paths), opt, multiple)
    return jobs


def as_groups(images: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    """A collated batch as model inputs: the stacked tensor, or (mixed sizes) one image at a time."""
    return [images] if isinstance(images, torch.Tensor) else [im.unsqueeze(0) for im in images]


def translate_folder(model, dataset: Dataset, direction: str, opt, out_dir: Path, what: str,
                     writer: ImageWriter, page: ResultsPage, skipped: list[str]) -> int:
    """Run every image of ``dataset`` (up to --num_test) through the model in batches; returns the count.

    Images stream through: workers decode the next batches while the model runs, finished pictures
    go to the writer threads, and only the first rows reach the HTML page, so a folder of any size
    (FFHQ's 70,000) runs in constant memory. Unreadable files are reported and added to ``skipped``.
    An aligned test set's true target half is written beside the translation, as ``real_B``.
    """
    subset = torch.utils.data.Subset(dataset, range(min(len(dataset), opt.num_test)))
    workers = loader_workers(opt.num_threads)
    loader = DataLoader(subset, batch_size=opt.batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_images, pin_memory=torch.cuda.is_available(),
                        prefetch_factor=4 if workers > 0 else None)
    count = 0
    for batch in tqdm(loader, desc=f"{what} ({direction})", unit="batch", disable=None, file=sys.stdout):
        for entry in batch["bad"]:
            path, _, reason = entry.partition("\t")
            print(f"test.py: warning: skipped unreadable image {path} ({reason})")
            skipped.append(path)
        images = batch["image"]
        if not batch["relpath"]:
            continue
        outputs: dict[str, list[np.ndarray]] = {}
        for group in as_groups(images):
            for label, tensor in model.translate(group, direction).items():
                to_pictures = maps_to_images if label.startswith("attn") else tensors_to_images
                outputs.setdefault(label, []).extend(to_pictures(tensor))
        if "target" in batch:  # pix2pix's classic name for the true target
            outputs["real_B"] = [picture for group in as_groups(batch["target"]) for picture in tensors_to_images(group)]
        for k, relpath in enumerate(batch["relpath"]):
            size = batch["size"][k] if opt.preprocess == "none" else None
            names = [output_name(relpath, label) for label in outputs]
            for name, pictures in zip(names, outputs.values()):
                writer.submit(pictures[k], out_dir / "images" / name, opt.aspect_ratio, size)
            page.add(relpath, [f"images/{nm}" for nm in names], list(outputs))
        count += len(batch["relpath"])
    return count


def main(argv: Sequence[str] | None = None) -> int:
    opt, given, parser = parse_test_options(argv)
    if not Path(opt.dataroot).is_dir():
        raise UserError(f"--dataroot {opt.dataroot} does not exist or is not a folder")
    run_dir = Path(opt.checkpoints_dir) / opt.name
    resolve_architecture(opt, given, run_dir)
    opt.gpu_id_list = usable_gpu_ids(opt.gpu_ids, "test.py")
    device = select_device(opt.gpu_id_list)
    opt.amp_resolved = acceleration.choose_amp(opt.amp, device, lambda line: print(f"test.py: warning: {line}"))
    acceleration.check_amp(device, opt.amp_resolved)
    acceleration.configure_backends(device, opt.cudnn_benchmark)
    label = checkpoint_label(opt)

    model = MODELS[opt.model](opt, device)  # opt.isTrain is False: generators only
    model.load(run_dir, label)
    if opt.eval:
        model.eval()
    jobs = test_jobs(opt)

    out_dir = results_folder(opt)
    save_options(opt, parser, out_dir)  # beside the results, so a read-only checkpoint folder works
    page = ResultsPage(out_dir, f"Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.epoch}",
                       opt.max_html_rows, opt.display_winsize)
    writer = ImageWriter(threads=max(2, loader_workers(opt.num_threads)))
    total, skipped = 0, []
    try:
        try:
            for dataset, direction, what in jobs:
                total += translate_folder(model, dataset, direction, opt, out_dir, what, writer, page, skipped)
        finally:
            writer.close()
        page.save()
    except OSError as err:
        raise UserError(f"cannot write results into {out_dir}: {err.strerror or err}; check --results_dir "
                        "(free space, permissions)") from err
    print(f"test.py: translated {total} images with {net_path(run_dir, label, generator_files(opt)[0]).name}"
          f"{' and its partner' if opt.model == 'cycle_gan' else ''}"
          f"{f' (--amp auto: {opt.amp_resolved})' if opt.amp == 'auto' else ''}; results in {out_dir}"
          + (f"; {len(skipped)} unreadable images skipped" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "test.py"))
