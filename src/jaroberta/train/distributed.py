"""One code path for CPU, one GPU and `torchrun` (one node or many).

Which process this is comes from `jaroberta.core.runtime.processes()` (torchrun's variables;
a single process without them). NCCL on GPUs, gloo on CPU.
Rank 0 logs and saves; every rank computes.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
from dataclasses import dataclass

import torch

from jaroberta.core.runtime import Processes, processes
from jaroberta.model.device import resolve_device


@dataclass(frozen=True)
class Runtime(Processes):
    """Where this process runs and who it is: its place among the processes, and its device."""

    device: torch.device = torch.device("cpu")
    """Device the model and batches live on."""
    owns_group: bool = False
    """True when this runtime joined the process group, so `shutdown` leaves it; False when a caller
    (`eval jglue`, running several fine-tunings in one process group) had joined it already."""


def init_runtime(device: str = "auto", timeout_s: float = 600.0) -> Runtime:
    """Read torchrun's environment, pick the device, and join the process group if there is one
    (a collective waiting longer than `timeout_s` for the others fails instead of hanging)."""
    here = processes()
    rank, world_size, local_rank = here.rank, here.world_size, here.local_rank
    dev = torch.device(resolve_device(device, local_rank))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns = world_size > 1 and not torch.distributed.is_initialized()
    if owns:
        backend = "nccl" if dev.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend, rank=rank, world_size=world_size,
                                             timeout=datetime.timedelta(seconds=timeout_s))
    return Runtime(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, owns_group=owns)


SHUTDOWN_S = 10.0
"""Longest wait for the process group to come down (it may talk to a store whose node is gone)."""


def within(seconds: float, call, *args):
    """`call(*args)` in a daemon thread, waited for at most `seconds`: its value, or None when it
    raised or had not returned. A call to the rendezvous store whose host is frozen blocks,
    whatever the store's own timeout says; the blocked thread dies with the process."""
    answer: list = []

    def run() -> None:
        try:
            answer.append(call(*args))
        except Exception:  # noqa: BLE001 - any failure means "no answer", never a second error
            pass

    thread = threading.Thread(target=run, name="jaroberta-store-call", daemon=True)
    thread.start()
    thread.join(seconds)
    return answer[0] if answer else None


def shutdown(runtime: Runtime) -> None:
    """Leave the process group if this runtime joined it (a caller that joined first leaves it itself)."""
    if runtime.owns_group and torch.distributed.is_initialized():
        within(SHUTDOWN_S, torch.distributed.destroy_process_group)


def wrap(module: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    """DistributedDataParallel when there are several processes, the module itself otherwise."""
    if not runtime.distributed:
        return module
    ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def no_sync_unless(last_micro_step: bool, module: torch.nn.Module):
    """Skip DDP's gradient all-reduce on accumulation micro-steps; only the last one syncs."""
    if last_micro_step or not hasattr(module, "no_sync"):
        return contextlib.nullcontext()
    return module.no_sync()


def sum_across(value: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Sum a tensor over all processes (itself for one process)."""
    if runtime.distributed:
        value = value.clone()
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.SUM)
    return value


def barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        torch.distributed.barrier()


def broadcast_object(value, runtime: Runtime):
    """Rank 0's `value` on every process (metrics computed on rank 0, decisions taken by all)."""
    if not runtime.distributed:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
