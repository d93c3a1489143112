"""Who this process is among the processes of one job: the one place torchrun's environment is read.

`torchrun` announces each process through RANK / WORLD_SIZE / LOCAL_RANK; without them the job is
one process. The training runtime (devices, the process group) builds on this in
`jaroberta.train.distributed`; everything else that needs "am I the main process?" or "how
many are we?" asks `processes()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from jaroberta.errors import JarobertaError


@dataclass(frozen=True)
class Processes:
    """This process's place in the job."""

    rank: int = 0
    """Global rank (0 for a single process)."""
    world_size: int = 1
    """Number of processes."""
    local_rank: int = 0
    """Rank on this node (picks the GPU)."""

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that logs, writes files and prints reports."""
        return self.rank == 0


def processes() -> Processes:
    """This process's place, from torchrun's variables (a single process without them)."""
    values = {}
    for field, variable in (("rank", "RANK"), ("world_size", "WORLD_SIZE"), ("local_rank", "LOCAL_RANK")):
        text = os.environ.get(variable)
        try:
            values[field] = int(text) if text not in (None, "") else Processes.__dataclass_fields__[field].default
        except ValueError:
            raise JarobertaError(f"{variable}={text!r} is not a number: unset it, or launch with torchrun") from None
    if values["world_size"] < 1 or not 0 <= values["rank"] < values["world_size"]:
        raise JarobertaError(f"RANK={values['rank']} does not fit WORLD_SIZE={values['world_size']}: launch with torchrun")
    return Processes(**values)
