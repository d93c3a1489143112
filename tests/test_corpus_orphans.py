"""`kill -9` of `corpus build --workers 2`: the workers notice, exit, and print nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")

SRC = Path(__file__).resolve().parents[1] / "src"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_killed_build_leaves_no_workers_and_no_tracebacks(tmp_path):
    text = "".join(f"これは{i}番目の文書に書かれた日本語の文です。\n次の文も十分に長い日本語の文章である。\n\n" for i in range(150_000))
    (tmp_path / "big.txt").write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    parent = subprocess.Popen(
        [sys.executable, "-m", "jaroberta", "corpus", "build", str(tmp_path / "big.txt"), str(tmp_path / "out"),
         "--workers", "2", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        assert _wait(lambda: len(_children(parent.pid)) >= 2, 60), "the build never started its workers"
        workers = _children(parent.pid)
        time.sleep(0.5)  # let them take chunks
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait(lambda: not any(_alive(w) for w in workers), 15), "orphaned workers kept running"
        stderr = parent.stderr.read().decode("utf-8", "replace")  # EOF once every worker closed it
    finally:
        for pid in [parent.pid, *_children(parent.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
