"""Where a run reports to: a real visdom server on localhost (started without its web-asset download,
which fails offline) receives the loss plot and the images; W&B in offline mode receives the losses
and the images; the run's HTML page shows the samples of every epoch and links the loss plot."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import train as train_script
from conftest import write_images

pytestmark = pytest.mark.slow

TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--num_threads", "0", "--n_epochs", "2", "--n_epochs_decay", "0", "--print_freq", "2", "--display_freq", "2",
        "--gpu_ids", "-1", "--seed", "1"]
LOSSES = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]


@pytest.fixture
def dataroot(tmp_path) -> Path:
    write_images(tmp_path / "data" / "trainA", 4, seed=1)
    write_images(tmp_path / "data" / "trainB", 4, seed=2)
    return tmp_path / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_visdom(tmp_path, port: int) -> subprocess.Popen | None:
    """A visdom server listening on ``port``, or None if it could not take the port (it exited)."""
    said = tmp_path / f"visdom_{port}.out"
    code = ("import sys; sys.argv = ['visdom', '-port', %r, '--hostname', '127.0.0.1', '-env_path', %r]; "
            "from visdom.server.run_server import main; main(lambda port: print('listening', flush=True))"
            ) % (str(port), str(tmp_path / "visdom_env"))
    with open(said, "w") as out:
        server = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while "listening" not in said.read_text():  # printed once the server holds the port
        if server.poll() is not None:
            return None
        assert time.monotonic() < deadline, "visdom server did not start"
        time.sleep(0.2)
    return server


@pytest.fixture
def visdom_server(tmp_path):
    visdom = pytest.importorskip("visdom", reason="scripts/setup_env.sh installs visdom 0.2.4")
    # free_port's port is free when asked, not necessarily when visdom binds it: another port if it was taken
    for _ in range(5):
        port = free_port()
        server = start_visdom(tmp_path, port)
        if server is not None:
            break
    assert server is not None, "visdom server did not start"
    client = visdom.Visdom(server="http://127.0.0.1", port=port, raise_exceptions=True, use_incoming_socket=False)
    assert client.check_connection(timeout_seconds=10)
    yield port, client
    server.terminate()
    server.wait(timeout=30)


def test_visdom_receives_the_loss_plot_and_the_images(dataroot, tmp_path, visdom_server):
    port, client = visdom_server
    assert train_script.main(["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path), "--name", "vis",
                              *TINY, "--display_id", "3", "--display_port", str(port),
                              "--display_server", "http://127.0.0.1", "--display_env", "toy"]) == 0
    assert client.win_exists("3", env="toy") and client.win_exists("4", env="toy")
    plot = json.loads(client.get_window_data("3", env="toy"))
    curves = {trace["name"]: trace for trace in plot["content"]["data"]}
    assert list(curves) == LOSSES
    logged = [json.loads(line) for line in (tmp_path / "vis" / "loss_log.jsonl").read_text().splitlines()]
    assert curves["cycle_A"]["y"] == pytest.approx([r["cycle_A"] for r in logged])  # every record, in order
    assert curves["cycle_A"]["x"][-1] == pytest.approx(2.0)  # in epochs
    images = json.loads(client.get_window_data("4", env="toy"))
    assert images["type"] == "image" and images["content"]["src"].startswith("data:image/png;base64,")


def test_visdom_and_the_run_page_show_a_pix2pix_run(tmp_path, visdom_server):
    """pix2pix reports through the same recorder: its four classic loss names, its images, the page."""
    port, client = visdom_server
    write_images(tmp_path / "ab" / "train", 4, size=(72, 36), seed=3)  # A|B side by side, 36 px halves
    assert train_script.main(["--dataroot", str(tmp_path / "ab"), "--model", "pix2pix", "--checkpoints_dir",
                              str(tmp_path), "--name", "p2p", *TINY, "--display_id", "5", "--display_port", str(port),
                              "--display_server", "http://127.0.0.1", "--display_env", "p2p"]) == 0
    plot = json.loads(client.get_window_data("5", env="p2p"))
    curves = {trace["name"]: trace for trace in plot["content"]["data"]}
    assert list(curves) == ["G_GAN", "G_L1", "D_real", "D_fake"]
    logged = [json.loads(line) for line in (tmp_path / "p2p" / "loss_log.jsonl").read_text().splitlines()]
    assert curves["G_L1"]["y"] == pytest.approx([r["G_L1"] for r in logged])
    images = json.loads(client.get_window_data("6", env="p2p"))
    assert images["type"] == "image" and images["content"]["src"].startswith("data:image/png;base64,")
    web = tmp_path / "p2p" / "web"
    assert "epoch [2]" in (web / "index.html").read_text()
    assert {p.name for p in (web / "images").glob("epoch002_*.png")} == {
        f"epoch002_{label}.png" for label in ("real_A", "fake_B", "real_B")}


def test_wandb_offline_receives_losses_and_images(dataroot, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    wandb.teardown()  # settings an earlier W&B run of this process set up would override WANDB_DIR
    logged = []
    real_log = wandb.Run.log

    def spy(self, data, *args, **kwargs):  # what our logger hands to W&B, then the real call
        logged.append(dict(data))
        return real_log(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb.Run, "log", spy)
    assert train_script.main(["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path), "--name", "wb",
                              *TINY, "--display_id", "0", "--use_wandb", "--wandb_project_name", "toy"]) == 0
    loss_records = [r for r in logged if "cycle_A" in r]
    assert len(loss_records) == 4 and all(set(LOSSES) <= set(r) and "lr" in r for r in loss_records)
    image_records = [r for r in logged if "fake_B" in r]
    assert image_records and all(isinstance(r["fake_B"], wandb.Image) for r in image_records)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    history = next(runs[0].glob("run-*.wandb")).read_bytes()
    assert all(name.encode() in history for name in LOSSES)  # the losses reached W&B's own run file
    media = list(runs[0].glob("files/media/images/*.png"))
    assert any(p.name.startswith("fake_B") for p in media)


def test_run_page_shows_epochs_and_links_the_loss_plot(dataroot, tmp_path):
    assert train_script.main(["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path), "--name", "page",
                              *TINY, "--display_id", "0"]) == 0
    web = tmp_path / "page" / "web"
    page = (web / "index.html").read_text()
    assert 'href="loss_plot.png"' in page and "epoch [2]" in page and "epoch [1]" in page
    assert page.index("epoch [2]") < page.index("epoch [1]")  # newest first
    with Image.open(web / "loss_plot.png") as plot:
        assert plot.size == (1000, 560)
    # redrawn when the last epoch's samples were saved (a new epoch always redraws it), not left from epoch 1
    assert os.path.getmtime(web / "loss_plot.png") >= os.path.getmtime(web / "images" / "epoch002_real_A.png")
