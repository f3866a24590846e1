"""Training records and pictures: loss logs, the HTML page of samples, visdom and W&B.

The loop hands each consumer plain numbers and tensors; none of them owns training state.

- ``loss_log.txt``: the classic line format, ``(epoch: E, iters: I, time: T, data: D) D_A: x ...``,
  so existing parsers and plotting scripts keep working;
- ``loss_log.jsonl``: the same records as JSON lines, with the learning rate and global counters;
- ``web/index.html``: the loss plot (``web/loss_plot.png``, drawn by util/loss_plot.py as
  scripts/plot_losses.py draws it) and the samples of every epoch, newest first (unless
  ``--no_html``); with ``--attention`` each fake is followed by its attention map (``attn_B``,
  ``attn_A``: white where the generator's content is used, black where the input is kept), in
  visdom and W&B too;
- visdom (``--display_id > 0``): a loss plot and the current images; an unreachable server or a
  missing package gives one warning and training goes on;
- W&B (``--use_wandb``): losses and images.
"""
from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from util import loss_plot
from util.errors import UserError
from util.html import HTMLPage
from util.image_io import save_image, tensor_to_image


class LossLog:
    def __init__(self, run_dir: Path):
        self.txt_path = run_dir / "loss_log.txt"
        self.jsonl_path = run_dir / "loss_log.jsonl"
        with open(self.txt_path, "a") as f:
            f.write(f"================ Training Loss ({time.strftime('%c')}) ================\n")

    def write(self, epoch: int, epoch_iter: int, total_iters: int, t_comp: float, t_data: float,
              losses: dict[str, float], lr: float) -> str:
        line = f"(epoch: {epoch}, iters: {epoch_iter}, time: {t_comp:.3f}, data: {t_data:.3f}) "
        line += "".join(f"{k}: {v:.3f} " for k, v in losses.items())
        record = {"epoch": epoch, "iters": epoch_iter, "total_iters": total_iters, "time": t_comp,
                  "data": t_data, "lr": lr, "wall": time.time(), **losses}
        with open(self.txt_path, "a") as f:
            f.write(line + "\n")
        with open(self.jsonl_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        return line


class HTMLSamples:
    """``web/images/epochNNN_<label>.png`` and an index page with one row per epoch."""

    ORDER = ("real_A", "fake_B", "attn_B", "rec_A", "idt_B", "real_B", "fake_A", "attn_A", "rec_B", "idt_A")

    @classmethod
    def _display_rank(cls, path: Path) -> tuple[int, str]:
        label = path.stem.split("_", 1)[1]
        return (cls.ORDER.index(label) if label in cls.ORDER else len(cls.ORDER), label)

    PLOT_EVERY_S = 60.0  # redraw the loss plot at most this often (and at each new epoch)

    def __init__(self, run_dir: Path, name: str, winsize: int):
        self.web_dir, self.name, self.winsize = run_dir / "web", name, winsize
        (self.web_dir / "images").mkdir(parents=True, exist_ok=True)
        self.plotted: tuple[int, float] | None = None  # (epoch, time) of the last loss plot

    def plot_losses(self, epoch: int) -> None:
        """``web/loss_plot.png`` from the run's loss log (util/loss_plot.py); never stops training."""
        log = self.web_dir.parent / "loss_log.jsonl"
        now = time.monotonic()
        if not log.is_file() or (self.plotted and self.plotted[0] == epoch and now - self.plotted[1] < self.PLOT_EVERY_S):
            return
        try:
            loss_plot.draw(log, self.web_dir / "loss_plot.png", width=1000, height=560, title=f"{self.name}: losses")
            self.plotted = (epoch, now)
        except Exception as err:  # noqa: BLE001 - a picture is not worth a training run
            warnings.warn(f"loss plot not drawn ({err.__class__.__name__}: {err})")

    def save(self, epoch: int, visuals: dict[str, torch.Tensor]) -> None:
        for label, tensor in visuals.items():
            save_image(tensor_to_image(tensor), self.web_dir / "images" / f"epoch{epoch:03d}_{label}.png")
        self.plot_losses(epoch)
        page = HTMLPage(self.web_dir, f"Experiment name = {self.name}", refresh=0)
        if (self.web_dir / "loss_plot.png").is_file():
            page.add_header("losses (scripts/plot_losses.py)")
            page.add_images(["loss_plot.png"], ["loss_plot.png"], width=1000)
        epochs = sorted({int(p.name[5:8]) for p in (self.web_dir / "images").glob("epoch[0-9][0-9][0-9]_*.png")},
                        reverse=True)
        for e in epochs:
            page.add_header(f"epoch [{e}]")
            files = sorted((self.web_dir / "images").glob(f"epoch{e:03d}_*.png"), key=self._display_rank)
            labels = [p.stem.split("_", 1)[1] for p in files]
            page.add_images([f"images/{p.name}" for p in files], labels, width=self.winsize)
        page.save()


class VisdomDisplay:
    """Loss curves and current images in visdom; disabled after one warning if unreachable."""

    def __init__(self, server: str, port: int, env: str, display_id: int, ncols: int, name: str):
        self.display_id, self.ncols, self.name = display_id, ncols, name
        self.vis = None
        self.plot = {"X": [], "Y": [], "legend": None}
        try:
            import visdom  # optional dependency
        except ImportError:
            warnings.warn("visdom is not installed: no live display (pass --display_id 0 to silence this)")
            return
        # The client logs a line about the socket we do not use; keep the console for training.
        logging.getLogger("visdom").setLevel(logging.ERROR)
        try:
            vis = visdom.Visdom(server=server, port=port, env=env, raise_exceptions=True,
                                use_incoming_socket=False)
            if not vis.check_connection(timeout_seconds=2):
                raise ConnectionError("no answer")
            self.vis = vis
        except Exception as err:  # visdom raises many kinds; any of them means no display
            warnings.warn(f"visdom server {server}:{port} unreachable ({err.__class__.__name__}); "
                          "training goes on without the live display (start it with python -m visdom.server)")

    def _guard(self, fn) -> None:
        if self.vis is None:
            return
        try:
            fn()
        except Exception as err:
            warnings.warn(f"visdom display failed ({err.__class__.__name__}: {err}); display turned off")
            self.vis = None

    def images(self, visuals: dict[str, torch.Tensor]) -> None:
        arrays = np.stack([tensor_to_image(t).transpose(2, 0, 1) for t in visuals.values()])
        nrow = self.ncols if self.ncols > 0 else len(arrays)
        self._guard(lambda: self.vis.images(arrays, nrow=nrow, win=self.display_id + 1, padding=2,
                                            opts={"title": f"{self.name} images"}))

    def losses(self, progress: float, losses: dict[str, float]) -> None:
        self.plot["X"].append(progress)
        self.plot["Y"].append([losses[k] for k in losses])
        self.plot["legend"] = list(losses)
        x = np.array(self.plot["X"])
        y = np.array(self.plot["Y"])
        self._guard(lambda: self.vis.line(
            X=np.repeat(x[:, None], y.shape[1], axis=1), Y=y, win=self.display_id,
            opts={"title": f"{self.name} loss over time", "legend": self.plot["legend"],
                  "xlabel": "epoch", "ylabel": "loss"}))


class WandbLogger:
    def __init__(self, project: str, name: str, config: dict):
        try:
            import wandb
        except ImportError as err:
            raise UserError("--use_wandb needs the wandb package: pip install wandb (or drop --use_wandb)") from err
        self.wandb = wandb
        self.run = wandb.run or wandb.init(project=project, name=name, config=config)

    def losses(self, losses: dict[str, float], step: int, epoch: int, lr: float) -> None:
        self.run.log({**losses, "epoch": epoch, "lr": lr}, step=step)

    def images(self, visuals: dict[str, torch.Tensor], step: int) -> None:
        self.run.log({k: self.wandb.Image(tensor_to_image(v)) for k, v in visuals.items()}, step=step)

    def finish(self) -> None:
        self.run.finish()


class TrainingRecorder:
    """Everything the loop reports to, set up once from the options."""

    def __init__(self, opt, run_dir: Path):
        self.log = LossLog(run_dir)
        self.html = None if opt.no_html else HTMLSamples(run_dir, opt.name, opt.display_winsize)
        self.visdom = None
        if opt.display_id > 0:
            self.visdom = VisdomDisplay(opt.display_server, opt.display_port, opt.display_env,
                                        opt.display_id, opt.display_ncols, opt.name)
        self.wandb = WandbLogger(opt.wandb_project_name, opt.name, vars(opt)) if opt.use_wandb else None

    def losses(self, epoch: int, epoch_iter: int, total_iters: int, progress: float, t_comp: float,
               t_data: float, losses: dict[str, float], lr: float) -> str:
        line = self.log.write(epoch, epoch_iter, total_iters, t_comp, t_data, losses, lr)
        if self.visdom:
            self.visdom.losses(progress, losses)
        if self.wandb:
            self.wandb.losses(losses, total_iters, epoch, lr)
        return line

    def images(self, epoch: int, total_iters: int, visuals: dict[str, torch.Tensor], to_html: bool) -> None:
        if self.visdom:
            self.visdom.images(visuals)
        if self.wandb:
            self.wandb.images(visuals, total_iters)
        if to_html and self.html:
            self.html.save(epoch, visuals)

    def close(self) -> None:
        if self.wandb:
            self.wandb.finish()
