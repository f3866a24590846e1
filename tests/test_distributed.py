"""torchrun + DistributedDataParallel on the CPU (gloo): two processes with batch b train the same
weights as one process with batch 2b; their checkpoints are plain classic state dicts; a DDP run
resumes under DDP and in a single process; the epoch sampler splits the work as DistributedSampler;
rank 0 alone reads the image headers, and a bad folder stops every rank in one line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, write_images
from data import UnalignedSampler
from models.networks import define_D, define_G
from support import TINY, max_difference, train_process, weights

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def dataroot(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp_data")
    write_images(root / "trainA", 8, seed=11)
    write_images(root / "trainB", 6, seed=12)
    return root


@pytest.fixture(scope="module")
def runs(dataroot, tmp_path_factory):
    """The same 2 epochs (8 samples each): 2 processes x batch 1, 1 process x batch 2, 1 x batch 1."""
    ckpt = tmp_path_factory.mktemp("ddp_ckpt")
    common = ["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), *TINY,
              "--n_epochs", "1", "--n_epochs_decay", "1"]
    ddp = train_process([*common, "--name", "ddp", "--batch_size", "1"], nproc=2)
    train_process([*common, "--name", "single", "--batch_size", "2"])
    train_process([*common, "--name", "small_batch", "--batch_size", "1"])
    return ckpt, ddp


def test_two_processes_equal_one_with_the_global_batch(runs):
    ckpt, _ = runs
    ddp, single, other = weights(ckpt / "ddp"), weights(ckpt / "single"), weights(ckpt / "small_batch")
    start = {"G_A": define_G("resnet_6blocks", 3, 3, ngf=8, norm="none")}
    assert max_difference(ddp, single) < 2e-6
    # The check can fail: a different batch (or ranks that did not average) lands far away.
    assert max_difference(other, single) > 1e-4
    moved = max(float((single["G_A"][k] - v).abs().max()) for k, v in start["G_A"].state_dict().items())
    assert moved > 1e-4  # the weights did train away from any initialisation


def test_only_rank_zero_logs_and_counts_the_global_batch(runs):
    ckpt, proc = runs
    assert proc.stdout.count("train.py: done") == 1
    assert "2 processes" in proc.stdout
    records = [json.loads(line) for line in (ckpt / "ddp" / "loss_log.jsonl").read_text().splitlines()]
    # one record per 2 global images (--print_freq 2), 8 images per epoch, 2 epochs: not doubled by rank 1
    assert [r["total_iters"] for r in records] == list(range(2, 17, 2))
    state = torch.load(ckpt / "ddp" / "latest_train_state.pth", map_location="cpu", weights_only=True)
    assert state["total_iters"] == 16 and state["epoch"] == 2


def test_ddp_checkpoint_loads_in_the_classic_layout_and_resumes_in_one_process(runs, dataroot, tmp_path):
    ckpt, _ = runs
    g = define_G("resnet_6blocks", 3, 3, ngf=8, norm="none")
    g.load_state_dict(torch.load(ckpt / "ddp" / "latest_net_G_A.pth", weights_only=True))  # strict: no "module."
    d = define_D("basic", 3, ndf=8, norm="none")
    d.load_state_dict(torch.load(ckpt / "ddp" / "latest_net_D_B.pth", weights_only=True))
    proc = train_process(["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), *TINY, "--name", "ddp",
                          "--batch_size", "2", "--n_epochs", "1", "--n_epochs_decay", "2", "--continue_train"])
    assert "epochs 3..3" in proc.stdout
    state = torch.load(ckpt / "ddp" / "latest_train_state.pth", map_location="cpu", weights_only=True)
    assert state["total_iters"] == 24 and state["epoch"] == 3


def test_resume_under_ddp_matches_an_unbroken_ddp_run(dataroot, tmp_path):
    """Stopped after epoch 1 and resumed with torchrun = the same 2 epochs straight through."""
    common = ["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path), *TINY, "--batch_size", "1",
              "--n_epochs", "1"]
    train_process([*common, "--name", "straight", "--n_epochs_decay", "1"], nproc=2)
    train_process([*common, "--name", "resumed", "--n_epochs_decay", "0"], nproc=2)
    train_process([*common, "--name", "resumed", "--n_epochs_decay", "1", "--continue_train"], nproc=2)
    assert max_difference(weights(tmp_path / "resumed"), weights(tmp_path / "straight")) < 1e-6


@pytest.mark.parametrize("n, world", [(8, 2), (7, 2), (5, 3), (6, 1)])
def test_sampler_ranks_split_the_single_process_epoch(n, world):
    """Interleaved shares, padded like DistributedSampler; own random B per sample; resumable."""
    whole = list(UnalignedSampler(n, 4, serial=False, seed=9))
    shares = []
    for rank in range(world):
        s = UnalignedSampler(n, 4, serial=False, seed=9, num_replicas=world, rank=rank)
        s.set_epoch(1)
        shares.append(list(s))
        assert len(shares[-1]) == len(s) == -(-n // world)
    padded = whole + whole[: -n % world or 0] if n % world else whole
    assert [shares[k % world][k // world] for k in range(len(padded))] == padded
    later = UnalignedSampler(n, 4, serial=False, seed=9, num_replicas=world, rank=world - 1)
    later.set_epoch(1, start=2 * world)  # resume after two global batches of 1 per rank
    assert list(later) == shares[world - 1][2:]
    later.set_epoch(2)
    assert list(later) != shares[world - 1]  # a new order each epoch


def test_multinode_script_joins_two_nodes_on_one_machine(dataroot, tmp_path):
    """scripts/train_multinode.sh as two "nodes" of one process each (static rendezvous on localhost)."""
    import socket

    args = ["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path), *TINY, "--name", "nodes",
            "--batch_size", "1", "--n_epochs", "1", "--n_epochs_decay", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(NNODES="2", GPUS_PER_NODE="1", MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1", PYTHON=sys.executable)
    for _ in range(3):  # the port is free when asked; if another process takes it before node 0 listens, again
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        nodes = [subprocess.Popen(["bash", str(ROOT / "scripts" / "train_multinode.sh"), *args],
                                  env=dict(env, MASTER_PORT=port, NODE_RANK=str(rank)), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True) for rank in (0, 1)]
        try:
            outputs = [nodes[0].communicate(timeout=600)[0]]
            if nodes[0].returncode != 0 and "EADDRINUSE" in outputs[0]:
                continue  # node 1 would wait for node 0's store for ever: stopped below
            outputs.append(nodes[1].communicate(timeout=600)[0])
            break
        finally:
            for node in nodes:
                if node.poll() is None:
                    os.killpg(node.pid, signal.SIGKILL)
                    node.wait()
    assert [node.returncode for node in nodes] == [0, 0], outputs
    assert "node 1 of 2" in outputs[1] and "2 processes" in outputs[0]
    state = torch.load(tmp_path / "nodes" / "latest_train_state.pth", map_location="cpu", weights_only=True)
    assert state["total_iters"] == 8


# One rank of the header-scan tests: train.py under torchrun, stopped once its loader is built, with
# every header it opens counted and the sizes each scan hands the checks recorded. Each rank writes
# what happened to <out>/rank<N>.json and exits 0, so torchrun never stops one rank for another's error.
SCAN_RANK = '''
import contextlib, io, json, os, sys
from pathlib import Path

import data
import train
from util.errors import run_cli

out, argv, fail_scan = Path(sys.argv[1]), sys.argv[3:], sys.argv[2] == "fail"
opened, scans = [], []
read_header, shared_scan, build_loader = data.header_size, data.shared_header_sizes, train.train_loader


class HeaderBug(Exception):
    """What a reader bug would raise: not one of the errors that make header_size answer None."""


def counted(path):
    opened.append(path)
    if fail_scan:
        raise HeaderBug("bad header")
    return read_header(path)


def recorded(paths, ctx):
    sizes = shared_scan(paths, ctx)
    scans.append(sizes)
    return sizes


def built_then_stop(*args, **kwargs):
    build_loader(*args, **kwargs)
    raise SystemExit(0)


data.header_size, data.shared_header_sizes, train.train_loader = counted, recorded, built_then_stop
err = io.StringIO()
try:
    with contextlib.redirect_stderr(err):
        code = run_cli(train.main, argv, "train.py")
except SystemExit as stop:
    code = stop.code
except Exception as crash:
    code = type(crash).__name__
(out / f"rank{os.environ['RANK']}.json").write_text(json.dumps(
    {"code": code, "stderr": err.getvalue(), "opened": len(opened), "scans": scans}))
'''


def scan_under_torchrun(tmp_path: Path, dataroot: Path, mode: str = "scan") -> list[dict]:
    """train.py's set-up in 2 gloo processes (``SCAN_RANK``); each rank's report, rank 0 first."""
    script, out = tmp_path / "scan_rank.py", tmp_path / "reports"
    script.write_text(SCAN_RANK)
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    args = ["--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", "scan", *TINY,
            "--preprocess", "none", "--batch_size", "2"]
    # a hang (a rank waiting for sizes that never come) fails the test at the timeout
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(out), mode, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_rank_zero_alone_reads_the_headers_and_every_rank_gets_its_sizes(tmp_path):
    write_images(tmp_path / "data" / "trainA", 5, size=(36, 40), seed=1)
    write_images(tmp_path / "data" / "trainB", 3, size=(36, 40), seed=2)
    rank0, rank1 = scan_under_torchrun(tmp_path, tmp_path / "data")
    assert rank0["code"] == rank1["code"] == 0, (rank0, rank1)
    assert (rank0["opened"], rank1["opened"]) == (5 + 3, 0)
    assert rank0["scans"] == rank1["scans"] == [[[36, 40]] * 5, [[36, 40]] * 3]


def test_a_folder_of_mixed_sizes_stops_every_rank_in_one_line(tmp_path):
    write_images(tmp_path / "data" / "trainA", 3, size=(36, 40), seed=1)
    write_images(tmp_path / "data" / "trainA", 2, size=(40, 36), seed=3, prefix="wide")
    write_images(tmp_path / "data" / "trainB", 3, size=(36, 40), seed=2)
    reports = scan_under_torchrun(tmp_path, tmp_path / "data")
    assert [r["opened"] for r in reports] == [5, 0]  # trainA refused: trainB never read
    for report in reports:
        assert report["code"] == 2, report
        line, = report["stderr"].splitlines()
        assert line.startswith("train.py: error: ") and "holds images of 2 sizes" in line
    assert not list((tmp_path / "ckpt").rglob("*"))  # nothing written


def test_a_scan_that_fails_on_rank_zero_does_not_leave_the_others_waiting(tmp_path):
    write_images(tmp_path / "data" / "trainA", 3, seed=1)
    write_images(tmp_path / "data" / "trainB", 3, seed=2)
    rank0, rank1 = scan_under_torchrun(tmp_path, tmp_path / "data", mode="fail")
    assert rank0["code"] == "HeaderBug"  # rank 0's own error keeps its traceback (a bug, not bad input)
    assert rank1["code"] == 2 and rank1["opened"] == 0
    line, = rank1["stderr"].splitlines()
    assert "rank 0 could not read the image headers (HeaderBug: bad header)" in line
