"""A process of a distributed run lost mid-run (a node down, a worker killed): the survivors
stop with one line that names it, instead of a hang or a C++ stack trace.

gloo notices a dead peer at the next collective ("Connection reset by peer" / "closed by
peer"), NCCL and a hung peer only when the process group's timeout
(`LoopConfig.collective_timeout_s`) runs out. Neither says *which* rank went away (gloo names an
address and port), so the survivors ask the rendezvous store: each one writes its rank
there, waits a moment, and the ranks nobody wrote for are the lost ones.

The store lives on one node (torchrun's first agent). When that node is the lost one, a
store call does not fail, it blocks: a frozen host keeps its socket open, and the client's
own timeout does not bound `check`. So the roll call runs in a daemon thread the survivor
waits for only `ROLL_CALL_S` and a little more. A store that does not answer, or refuses
the connection (its node killed), means its node is the lost one: with two processes that
is the other rank; with more, the line says the rank is unknown.

torchrun's agent on the surviving node talks to that store too. Frozen, the store holds the
agent in a C++ call no signal interrupts, for minutes after its worker stopped; so a worker
that found the store gone stops its agent (SIGKILL) as it exits, after its line is out.
Killed, the store refuses the agent at once, and the agent stops its worker with SIGTERM,
often before the worker's collective has failed: the worker turns that SIGTERM into an
exception (`SigtermAsError`) so it still says which rank was lost.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import logging
import os
import signal
import sys
import threading
import time

import torch

from jaroberta.errors import JarobertaError
from jaroberta.train.distributed import Runtime, within

FAILURE_SIGNS = ("connection reset", "connection closed", "closed by peer", "timed out", "timeout", "broken pipe",
                 "connection refused", "gloo", "nccl", "failed to recv", "socket")
"""Lower-case pieces of the messages with which collectives fail when a peer is gone."""

ROLL_CALL_S = 3.0
"""How long survivors wait for each other's answer in the store before naming the missing."""


class PeerLost(JarobertaError):
    """Another process of the run went away; this one stopped (resume from the last checkpoint)."""


class AgentStopped(RuntimeError):
    """torchrun's agent sent this worker SIGTERM (its rendezvous store is gone, or it was stopped)."""


class SigtermAsError:
    """While training under torchrun, the first SIGTERM raises `AgentStopped` in the main thread
    instead of ending the process without a word; once `quiet()` (the run is already stopping
    and saying why), SIGTERMs wait for that line."""

    def __init__(self, runtime: Runtime) -> None:
        self.active = runtime.distributed and threading.current_thread() is threading.main_thread()
        self.stopping = False
        self._before = None

    def quiet(self) -> None:
        self.stopping = True

    def _stopped(self, signum, frame) -> None:
        if not self.stopping:
            self.stopping = True
            raise AgentStopped("stopped by its torchrun agent (SIGTERM)")

    def __enter__(self) -> "SigtermAsError":
        if self.active:
            self._before = signal.signal(signal.SIGTERM, self._stopped)
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.active:
            return
        # A torchrun worker that is stopping exits right after its line: let no SIGTERM cut it off.
        stopping_worker = self.stopping and "TORCHELASTIC_RUN_ID" in os.environ
        signal.signal(signal.SIGTERM, signal.SIG_IGN if stopping_worker else self._before)


def is_peer_failure(exc: BaseException, runtime: Runtime) -> bool:
    """True for the errors a collective raises when another process is gone or hung."""
    if not runtime.distributed or not isinstance(exc, (RuntimeError, torch.distributed.DistError)):
        return False
    if isinstance(exc, (torch.distributed.DistError, AgentStopped)):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in FAILURE_SIGNS)


STORE_GRACE_S = 2.0
"""How much longer than the roll call's wait the store may take to answer before it counts as gone."""


def _roll_call(runtime: Runtime, wait_s: float) -> list[int]:
    store = torch.distributed.distributed_c10d._get_default_store()
    store.set_timeout(datetime.timedelta(seconds=max(wait_s, 1.0)))
    store.set(f"jaroberta/alive/{runtime.rank}", "1")
    time.sleep(wait_s)
    return [r for r in range(runtime.world_size) if r != runtime.rank and not store.check([f"jaroberta/alive/{r}"])]


def lost_ranks(runtime: Runtime, wait_s: float | None = None) -> list[int] | None:
    """The ranks that did not answer a roll call in the rendezvous store. When the store itself
    does not answer in time, its node is gone: with two processes that names the other rank;
    with more, None (unknown)."""
    wait_s = ROLL_CALL_S if wait_s is None else wait_s
    missing = within(wait_s + STORE_GRACE_S, _roll_call, runtime, wait_s)
    if missing is None:
        _stop_agent_at_exit()
        if runtime.world_size == 2:
            return [1 - runtime.rank]
    return missing


def _stop_agent_at_exit() -> None:
    """At exit, SIGKILL the torchrun agent that started this worker (see the module doc), and
    leave at once: the interpreter's own teardown would wait on the store thread still
    blocked in C++ (and torch's destructors abort over it) until the frozen host's socket dies."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    agent = os.getppid()

    def stop() -> None:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if os.getppid() == agent and agent > 1:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(agent, signal.SIGKILL)
        os._exit(2)  # jaroberta's status for an error it explained (the PeerLost line)

    atexit.register(stop)


def peer_lost(exc: BaseException, runtime: Runtime, last_checkpoint: str | None) -> PeerLost:
    """The one-line error survivors stop with."""
    missing = lost_ranks(runtime)
    if missing:
        who = f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {runtime.world_size}"
    else:
        who = f"another process of the {runtime.world_size}"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    resume = (f"relaunch with --resume to continue from {last_checkpoint}" if last_checkpoint
              else "no checkpoint was written yet: relaunch to start again")
    return PeerLost(f"rank {runtime.rank} stopped: lost {who} (its node down, its process killed or hung: "
                    f"{first_line[:200]}); {resume}")
