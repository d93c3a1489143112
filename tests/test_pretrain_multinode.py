"""Many nodes, simulated on one machine: two `torchrun --nnodes 2 --nproc_per_node 1` launches
meeting at a c10d rendezvous (gloo) train the model one process trains with the same
global batch; a node lost mid-run stops the survivor with one line naming the lost rank,
and `--resume` on a new launch continues from the last checkpoint."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jaroberta.train import checkpoint as ckpt
from jaroberta.train.logs import read_log
from test_pack import corpus_dir, shards_dir, tokenizer_dir  # noqa: F401  (fixtures)
from test_pretrain_distributed import COMMON, _env, no_dropout_config  # noqa: F401  (fixture)

LAUNCH_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _node(port: int, run_id: str, args: list[str], log: Path) -> subprocess.Popen:
    """One 'node': a torchrun agent with one worker, joining the rendezvous at localhost:port."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
               "--rdzv_backend", "c10d", "--rdzv_endpoint", f"localhost:{port}", "--rdzv_id", run_id,
               "-m", "jaroberta", "pretrain", *args]
    return subprocess.Popen(command, env=_env(), stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _two_nodes(args: list[str], logs: Path, run_id: str) -> tuple[subprocess.Popen, subprocess.Popen]:
    port = _free_port()
    first = _node(port, run_id, args, logs / f"{run_id}-node0.log")
    time.sleep(1.0)  # the first launch hosts the rendezvous store (it survives in the kill test)
    return first, _node(port, run_id, args, logs / f"{run_id}-node1.log")


def _wait(process: subprocess.Popen) -> int:
    try:
        return process.wait(timeout=LAUNCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill_node(process)
        raise AssertionError("a node did not finish: a hang") from None


def _descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_node(process: subprocess.Popen) -> None:
    """What a node going down does to its processes: the agent and its workers die at once."""
    for pid in [process.pid, *_descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


@pytest.mark.slow
def test_two_nodes_match_one_process(shards_dir, no_dropout_config, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "jaroberta", "pretrain", str(shards_dir), str(one), *COMMON, no_dropout_config,
                    "--batch-size", "8"], check=True, env=_env(), capture_output=True, timeout=LAUNCH_TIMEOUT_S)
    nodes = _two_nodes([str(shards_dir), str(two), *COMMON, no_dropout_config, "--batch-size", "8"], tmp_path, "match")
    codes = [_wait(node) for node in nodes]
    assert codes == [0, 0], [(tmp_path / f"match-node{i}.log").read_text()[-3000:] for i in range(2)]

    losses = [[r["loss"] for r in read_log(run) if r["kind"] == "train"] for run in (one, two)]
    assert len(losses[0]) == 4
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    a, b = (load_file(run / "model" / "model.safetensors") for run in (one, two))
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5)
    assert (two / "checkpoints" / "step-00000004" / "rng-rank1.pt").exists()  # the other node's rank saved its RNG


KILL_STEPS = 100


@pytest.mark.slow
def test_lost_node_stops_the_survivor_and_resume_continues(shards_dir, no_dropout_config, tmp_path):
    out = tmp_path / "run"
    args = [str(shards_dir), str(out), "--steps", str(KILL_STEPS), "--micro-batch", "4", "--eval-limit", "8",
            "--log-every", "1", "--save-every", "10", "--keep-checkpoints", "1", "--model-config", no_dropout_config,
            "--collective-timeout-s", "60"]
    survivor, lost = _two_nodes(args, tmp_path, "kill")
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while ckpt.latest(out) is None:  # the first checkpoint is on disk: now the node goes down
        assert survivor.poll() is None and lost.poll() is None, (tmp_path / "kill-node0.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    _kill_node(lost)
    started = time.monotonic()
    assert _wait(survivor) != 0
    assert time.monotonic() - started < 60, "the survivor waited for the timeout instead of noticing the lost node"
    text = (tmp_path / "kill-node0.log").read_text()
    stopped = re.search(r"jaroberta pretrain: error: rank (\d) stopped: lost rank (\d) of 2 .*relaunch with --resume", text)
    assert stopped, text[-3000:]
    assert {stopped.group(1), stopped.group(2)} == {"0", "1"}
    checkpoint = ckpt.latest(out)
    assert checkpoint is not None and int(checkpoint.name.split("-")[1]) < KILL_STEPS

    nodes = _two_nodes([*args, "--resume"], tmp_path, "resume")
    codes = [_wait(node) for node in nodes]
    assert codes == [0, 0], [(tmp_path / f"resume-node{i}.log").read_text()[-3000:] for i in range(2)]
    steps = [r["step"] for r in read_log(out) if r["kind"] == "train"]
    assert steps == list(range(1, KILL_STEPS + 1))  # the log reads as if the run had never stopped
    resumed = "\n".join((tmp_path / f"resume-node{i}.log").read_text() for i in range(2))
    assert f"resumed at step {int(checkpoint.name.split('-')[1])}" in resumed, resumed[-3000:]


@pytest.mark.slow
def test_hung_node_stops_the_survivor_after_the_timeout(shards_dir, no_dropout_config, tmp_path):
    """A node that stops answering (here: its worker frozen with SIGSTOP) keeps its sockets
    open, so nothing resets: the process group's timeout ends the wait."""
    out = tmp_path / "run"
    args = [str(shards_dir), str(out), "--steps", str(KILL_STEPS), "--micro-batch", "4", "--eval-limit", "8",
            "--log-every", "1", "--save-every", "10", "--model-config", no_dropout_config, "--collective-timeout-s", "10"]
    survivor, hung = _two_nodes(args, tmp_path, "hang")
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while ckpt.latest(out) is None:
        assert survivor.poll() is None and hung.poll() is None, (tmp_path / "hang-node0.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    workers = _descendants(hung.pid)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        code = _wait(survivor)
        waited = time.monotonic() - started
    finally:
        _kill_node(hung)
    assert code != 0
    assert waited < 10 + 60, f"the survivor took {waited:.0f} s"
    text = (tmp_path / "hang-node0.log").read_text()
    assert re.search(r"jaroberta pretrain: error: rank \d stopped: lost rank \d of 2 ", text), text[-3000:]


def _stop_node(process: subprocess.Popen, sig: int) -> None:
    """`sig` to the node's agent and all its workers at once."""
    for pid in [process.pid, *_descendants(process.pid)]:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("how", ["frozen", "killed"])
def test_losing_the_node_that_hosts_the_store_stops_the_survivor_with_its_line(shards_dir, no_dropout_config, tmp_path, how):
    """Node 0's agent hosts the rendezvous store. Frozen (SIGSTOP), it keeps its sockets open
    and every store call blocks; killed, the store refuses connections. Either way the survivor
    stops within the timeout with its one line naming the lost rank, and --resume continues."""
    out = tmp_path / "run"
    args = [str(shards_dir), str(out), "--steps", str(KILL_STEPS), "--micro-batch", "4", "--eval-limit", "8",
            "--log-every", "1", "--save-every", "10", "--keep-checkpoints", "1", "--model-config", no_dropout_config,
            "--collective-timeout-s", "10"]
    host, survivor = _two_nodes(args, tmp_path, how)
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while ckpt.latest(out) is None:
        assert survivor.poll() is None and host.poll() is None, (tmp_path / f"{how}-node1.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    _stop_node(host, signal.SIGSTOP if how == "frozen" else signal.SIGKILL)
    try:
        started = time.monotonic()
        code = _wait(survivor)
        waited = time.monotonic() - started
    finally:
        _kill_node(host)
    text = (tmp_path / f"{how}-node1.log").read_text()
    assert code != 0 and waited < 10 + 60, (waited, text[-3000:])
    stopped = re.search(r"jaroberta pretrain: error: rank (\d) stopped: lost rank (\d) of 2 .*relaunch with --resume", text)
    assert stopped and stopped.group(1) != stopped.group(2), text[-3000:]
    checkpoint = ckpt.latest(out)
    assert checkpoint is not None

    nodes = _two_nodes([*args, "--resume"], tmp_path, f"{how}-resume")
    codes = [_wait(node) for node in nodes]
    assert codes == [0, 0], [(tmp_path / f"{how}-resume-node{i}.log").read_text()[-3000:] for i in range(2)]
    steps = [r["step"] for r in read_log(out) if r["kind"] == "train"]
    assert steps == list(range(1, KILL_STEPS + 1))
