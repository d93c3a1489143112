"""`processes()`: torchrun's environment read in one place, bad values named."""

from __future__ import annotations

import pytest

from jaroberta.core.runtime import Processes, processes
from jaroberta.errors import JarobertaError

CASES = [
    ({}, Processes(0, 1, 0)),
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, Processes(1, 2, 1)),
    ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}, Processes(3, 4, 0)),  # second node
    ({"RANK": "", "WORLD_SIZE": ""}, Processes(0, 1, 0)),
]


@pytest.mark.parametrize(("env", "expected"), CASES)
def test_processes_from_torchrun_variables(monkeypatch, env, expected):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    here = processes()
    assert here == expected
    assert here.is_main == (expected.rank == 0)
    assert here.distributed == (expected.world_size > 1)


@pytest.mark.parametrize(("env", "named"), [
    ({"RANK": "x"}, "RANK='x'"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2"),
    ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0"),
])
def test_bad_values_are_named(monkeypatch, env, named):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(JarobertaError, match=named.replace("[", r"\[")):
        processes()
