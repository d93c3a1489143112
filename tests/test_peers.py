"""The roll call survivors of a lost node run in the rendezvous store: bounded even when the
store's host is frozen (its calls block whatever the store's timeout says)."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from jaroberta.train import peers
from jaroberta.train.distributed import Runtime, within


class FrozenStore:
    """A store whose host stopped answering: `check` (or every call) blocks."""

    def __init__(self, block_all: bool) -> None:
        self.block_all = block_all
        self.released = threading.Event()

    def _block(self) -> None:
        self.released.wait(60)

    def set_timeout(self, timeout) -> None:
        pass

    def set(self, key: str, value: str) -> None:
        if self.block_all:
            self._block()

    def check(self, keys: list[str]) -> bool:
        self._block()
        return True


class RefusingStore(FrozenStore):
    """A store whose host was killed: the connection is refused."""

    def set(self, key: str, value: str) -> None:
        raise torch.distributed.DistNetworkError("Connection refused")


class AnsweringStore(FrozenStore):
    def __init__(self, alive: set[str]) -> None:
        super().__init__(block_all=False)
        self.alive = set(alive)

    def set(self, key: str, value: str) -> None:
        self.alive.add(key)

    def check(self, keys: list[str]) -> bool:
        return all(k in self.alive for k in keys)


def _runtime(rank: int, world_size: int) -> Runtime:
    return Runtime(rank=rank, world_size=world_size, local_rank=0, device=torch.device("cpu"))


@pytest.mark.parametrize("store, world_size, lost", [
    (FrozenStore(block_all=False), 2, [0]),   # frozen host: check blocks
    (FrozenStore(block_all=True), 2, [0]),    # frozen host: set blocks already
    (RefusingStore(block_all=False), 2, [0]),  # killed host
    (FrozenStore(block_all=False), 3, None),  # three processes: which one hosted the store is unknown
    (AnsweringStore({"jaroberta/alive/0"}), 3, [2]),
])
def test_the_roll_call_is_bounded_and_names_the_lost_rank(monkeypatch, store, world_size, lost):
    monkeypatch.setattr(torch.distributed.distributed_c10d, "_get_default_store", lambda: store)
    monkeypatch.setattr(peers, "STORE_GRACE_S", 0.3)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)  # no agent to stop here
    started = time.monotonic()
    try:
        assert peers.lost_ranks(_runtime(1, world_size), wait_s=0.1) == lost
    finally:
        store.released.set()
    assert time.monotonic() - started < 0.1 + peers.STORE_GRACE_S + 5  # not the minutes a frozen store holds a call


def test_the_line_names_the_rank_whose_node_hosted_a_frozen_store(monkeypatch):
    store = FrozenStore(block_all=False)
    monkeypatch.setattr(torch.distributed.distributed_c10d, "_get_default_store", lambda: store)
    monkeypatch.setattr(peers, "ROLL_CALL_S", 0.1)
    monkeypatch.setattr(peers, "STORE_GRACE_S", 0.3)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    error = RuntimeError("[gloo/transport/tcp/unbound_buffer.cc:129] Timed out waiting 10000ms for send operation")
    try:
        assert peers.is_peer_failure(error, _runtime(1, 2))
        message = str(peers.peer_lost(error, _runtime(1, 2), "runs/x/checkpoints/step-00000010"))
    finally:
        store.released.set()
    assert message.startswith("rank 1 stopped: lost rank 0 of 2 ") and "relaunch with --resume" in message


def test_within_returns_the_value_or_none():
    assert within(5, lambda x: x + 1, 1) == 2
    assert within(5, lambda: 1 / 0) is None
    event = threading.Event()
    assert within(0.05, event.wait, 10) is None
    event.set()


def test_sigterm_is_an_error_once_under_several_processes():
    import os
    import signal

    with peers.SigtermAsError(_runtime(0, 2)) as guard:
        with pytest.raises(peers.AgentStopped):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert peers.is_peer_failure(peers.AgentStopped("x"), _runtime(0, 2))
        os.kill(os.getpid(), signal.SIGTERM)  # a second one while stopping: waits for the line
        time.sleep(0.05)
        assert guard.stopping
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
