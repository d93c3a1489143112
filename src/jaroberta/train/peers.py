"""A process of a distributed run lost mid-run (a node down, a worker killed): the survivors
stop with one line that names it, instead of a hang or a C++ stack trace.

gloo notices a dead peer at the next collective ("Connection reset by peer" / "closed by
peer"), NCCL and a hung peer only when the process group's timeout
(`LoopConfig.collective_timeout_s`) runs out. Neither says *which* rank went away (gloo names an
address and port), so the survivors ask the rendezvous store: each one writes its rank
there, waits a moment, and the ranks nobody wrote for are the lost ones. Where the store
itself went down with the lost node, the line says the rank is unknown.
"""

from __future__ import annotations

import datetime
import time

import torch

from jaroberta.errors import JarobertaError
from jaroberta.train.distributed import Runtime

FAILURE_SIGNS = ("connection reset", "connection closed", "closed by peer", "timed out", "timeout", "broken pipe",
                 "connection refused", "gloo", "nccl", "failed to recv", "socket")
"""Lower-case pieces of the messages with which collectives fail when a peer is gone."""

ROLL_CALL_S = 3.0
"""How long survivors wait for each other's answer in the store before naming the missing."""


class PeerLost(JarobertaError):
    """Another process of the run went away; this one stopped (resume from the last checkpoint)."""


def is_peer_failure(exc: BaseException, runtime: Runtime) -> bool:
    """True for the errors a collective raises when another process is gone or hung."""
    if not runtime.distributed or not isinstance(exc, (RuntimeError, torch.distributed.DistError)):
        return False
    if isinstance(exc, torch.distributed.DistError):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in FAILURE_SIGNS)


def lost_ranks(runtime: Runtime, wait_s: float = ROLL_CALL_S) -> list[int] | None:
    """The ranks that did not answer a roll call in the rendezvous store; None when the store
    cannot be reached (it may have lived on the lost node)."""
    try:
        store = torch.distributed.distributed_c10d._get_default_store()
        store.set_timeout(datetime.timedelta(seconds=max(wait_s, 1.0)))
        store.set(f"jaroberta/alive/{runtime.rank}", "1")
        time.sleep(wait_s)
        return [r for r in range(runtime.world_size) if r != runtime.rank and not store.check([f"jaroberta/alive/{r}"])]
    except Exception:  # noqa: BLE001 - any failure here means "unknown", never a second error
        return None


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
