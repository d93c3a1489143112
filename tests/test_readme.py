"""README.md is run: every `jaroberta ...` line of its shell blocks parses with today's
parser, and its Python blocks run on a tiny model."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)

from jaroberta.cli import build_parser
from jaroberta.model.export import export_model

README = Path(__file__).resolve().parents[1] / "README.md"

# Shell lines of README's code blocks that are not jaroberta commands, each listed: nothing is skipped silently.
NOT_JAROBERTA = {
    "make demo   # set-up + the main job on the default corpus (rinna's family; about half an hour on 2 cores)",
    "make test   # set-up + the test suite (offline; prints the 10 slowest tests)",
    'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',  # the SLURM example's rendezvous host
    "git clone https://github.com/yahoojapan/JGLUE",  # the data `eval jglue` reads
}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _shell_lines() -> list[str]:
    """Each command of README's bash blocks: continuation lines joined, comment lines (and a
    script's #! and #SBATCH header) left out."""
    lines = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def _jaroberta_argv(line: str) -> list[str]:
    """The arguments after `jaroberta` (or `torchrun ... -m jaroberta`) on a README line."""
    words = shlex.split(line, comments=True)
    if words[:1] == ["srun"]:  # SLURM starts the launcher on every node
        words = words[1:]
    if words[:1] == ["jaroberta"]:
        return words[1:]
    if words[:1] == ["torchrun"] and "-m" in words and words[words.index("-m") + 1] == "jaroberta":
        return words[words.index("-m") + 2:]
    raise AssertionError(f"README line is neither a jaroberta command nor listed in NOT_JAROBERTA: {line!r}")


COMMANDS = [line for line in _shell_lines() if line not in NOT_JAROBERTA]


def test_readme_has_commands_and_python():
    assert len(COMMANDS) >= 20
    assert _blocks("python"), "README's Python section is gone"
    assert NOT_JAROBERTA <= set(_shell_lines()), "a listed exception is no longer in README: drop it from NOT_JAROBERTA"


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line):
    argv = _jaroberta_argv(line)
    args = build_parser(argv).parse_args(argv)
    assert callable(getattr(args, "run", None)), f"{line!r} names no runnable command"


def test_readme_python_runs(rinna_dir, tmp_path, capsys):  # noqa: F811
    exported = tmp_path / "rinna-hf"  # what `jaroberta export MODEL rinna-hf` writes, for the transformers snippet
    export_model(rinna_dir, exported)
    for block in _blocks("python"):
        block = block.replace('"MODEL"', repr(str(rinna_dir))).replace('"rinna-hf"', repr(str(exported)))
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "(2, " in out  # the embeddings' shape was printed
