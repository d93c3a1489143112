"""log.jsonl after kills and resumes: every step once, in order, whatever the kills."""

from __future__ import annotations

import json

import pytest

from jaroberta.train.logs import LOG_FILE, read_log
from jaroberta.train.loop import train
from test_loop import LeastSquares, _config


class _Killed(Exception):
    pass


class Dies(LeastSquares):
    """Killed when asked for the batch of step `at` (its earlier steps are logged)."""

    def __init__(self, at: int):
        super().__init__()
        self.at, self.calls = at, 0

    def next_batch(self):
        self.calls += 1
        if self.calls == self.at:
            raise _Killed
        return super().next_batch()


def _steps(run_dir) -> list[int]:
    return [r["step"] for r in read_log(run_dir) if r["kind"] == "train"]


@pytest.mark.parametrize("kills", [
    [2],        # before the first checkpoint (at step 3): used to log step 1 twice
    [5],        # after it: steps 4 redone
    [2, 2, 5],  # killed again and again
])
def test_each_step_is_logged_once_whatever_the_kills(tmp_path, kills):
    config = _config(tmp_path, steps=6, log_every=1, save_every=3, resume=True)
    for at in kills:
        with pytest.raises(_Killed):
            train(Dies(at), config)
    train(LeastSquares(), config)
    assert _steps(tmp_path) == [1, 2, 3, 4, 5, 6]


def test_a_line_cut_by_the_kill_is_dropped(tmp_path):
    config = _config(tmp_path, steps=6, log_every=1, save_every=3, resume=True)
    with pytest.raises(_Killed):
        train(Dies(5), config)
    with (tmp_path / LOG_FILE).open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "train", "step": 5, "lo')  # killed mid-write
    train(LeastSquares(), config)
    lines = (tmp_path / LOG_FILE).read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line) for line in lines)
    assert _steps(tmp_path) == [1, 2, 3, 4, 5, 6]
