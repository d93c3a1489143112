"""The command line: every sub-command explains itself, options don't drift silently,
and a user's mistake is one clear line, not a traceback."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaroberta.cli import build_parser, main

SNAPSHOT = Path(__file__).parent / "assets" / "cli_options.json"


def _walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Yield (command path, parser) for every parser in the tree."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, prefix + (name,))


def _options(parser: argparse.ArgumentParser) -> list[str]:
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        names.append("/".join(action.option_strings) if action.option_strings else f"<{action.dest}>")
    return sorted(names)


def current_surface() -> dict[str, list[str]]:
    return {" ".join(path) or "jaroberta": _options(p) for path, p in _walk(build_parser())}


def test_cli_options_match_snapshot():
    """Changing a command's options must be deliberate: regenerate the snapshot with
    JAROBERTA_UPDATE_CLI_SNAPSHOT=1 pytest tests/test_cli.py and review the diff."""
    surface = current_surface()
    if os.environ.get("JAROBERTA_UPDATE_CLI_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(surface, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert SNAPSHOT.exists(), "run JAROBERTA_UPDATE_CLI_SNAPSHOT=1 pytest tests/test_cli.py once"
    assert surface == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [p for p, _ in _walk(build_parser()) if p])
def test_every_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: jaroberta " + " ".join(path) in out
    # every option of a leaf command carries a help text
    leaf = dict(_walk(build_parser()))[path]
    undocumented = [a.dest for a in leaf._actions if a.help is None and a.dest not in ("help",)
                    and not isinstance(a, argparse._SubParsersAction)]
    assert not undocumented, f"options without help in 'jaroberta {' '.join(path)}': {undocumented}"


def test_module_entry_point_prints_version():
    out = subprocess.run([sys.executable, "-m", "jaroberta", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("jaroberta ")


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out
