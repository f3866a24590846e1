"""One generator, one direction, inference only (``--model test``).

Loads ``<epoch>_net_G<model_suffix>.pth``: with a CycleGAN run, ``--model_suffix _A`` is G_AB
(puts a mask on) and ``_B`` is G_BA (takes it off); without a suffix, a pix2pix run's ``net_G``.
With ``--attention`` the generator's map comes out too, as ``attn``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from models import acceleration
from models.common import generator_flags, generator_outputs, select_device, speed_settings
from models.networks import define_G
from util.checkpoint import load_network, net_path


class TestModel:
    def __init__(self, opt: argparse.Namespace, device: torch.device | None = None):
        self.opt = opt
        self.device = device or select_device(getattr(opt, "gpu_id_list", []))
        self.file_name = "G" + opt.model_suffix
        self.attention = getattr(opt, "attention", False)
        self.G = define_G(opt.netG, opt.input_nc, opt.output_nc, ngf=opt.ngf, norm=opt.norm,
                          use_dropout=not opt.no_dropout, init_type=opt.init_type, init_gain=opt.init_gain,
                          attention=self.attention)
        self.speed = speed_settings(opt, self.device)
        self.G = acceleration.prepare(self.G, self.device, self.speed["channels_last"])
        self.runner = acceleration.runner(self.G, self.device, self.speed["compile"],
                                          data_parallel_ids=getattr(opt, "gpu_id_list", []))
        self.memory_format = acceleration.memory_format(self.speed["channels_last"])
        self.nets = {self.file_name: self.G}

    def load(self, folder: str | Path, label: str) -> None:
        load_network(self.G, net_path(folder, label, self.file_name), generator_flags(self.opt))
        self.G.to(self.device)

    def eval(self) -> None:
        self.G.eval()

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str | None = None) -> dict[str, torch.Tensor]:
        """``real`` and ``fake`` in [-1, 1]; with --attention also ``attn``, one channel in [0, 1]."""
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        with acceleration.autocast(self.device, self.speed["amp"]):
            fake, alpha = generator_outputs(self.runner(images), self.attention)
        out = {"real": images, "fake": fake.float()}
        if alpha is not None:
            out["attn"] = alpha.float()
        return out
