"""The flags several commands share, spelled and explained once (README's "Flags" table),
and the small helpers every handler needs: reading texts, hidden aliases, quieting transformers."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.model.quiet import silence_transformers
from jaroberta.core.hub import LICENSE_HELP, REVISION_HELP

log = logging.getLogger(__name__)


def alias(p, old: str, dest: str, **kwargs) -> None:
    """Accept `old`, a spelling kept for one release, without showing it in --help."""
    p.add_argument(old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def revision(p) -> None:
    p.add_argument("--revision", metavar="REV", help=REVISION_HELP)


def license(p) -> None:
    p.add_argument("--license", metavar="ID", help=LICENSE_HELP)


def device(p, where: str = "") -> None:
    p.add_argument("--device", default="auto",
                   help=f"auto, cpu or cuda; auto = cuda when available, else cpu{where} (default: auto)")


def no_progress(p) -> None:
    p.add_argument("--no-progress", action="store_true", help="do not show progress bars")


def as_json(p, what: str = "print the result as one JSON object") -> None:
    p.add_argument("--json", action="store_true", help=what)


def seed(p, of: str, default: str | int = 42) -> None:
    p.add_argument("--seed", type=int, default=None if isinstance(default, str) else default,
                   help=f"seed of {of} (default: {default})")


def user_dict(p, help: str = "MeCab user dictionary (.dic) the tokenizer needs, matched by file name; overrides the "
              "absolute path in JMedRoBERTa's tokenizer_config.json; repeat for several") -> None:
    p.add_argument("--user-dict", type=Path, action="append", default=[], metavar="PATH", help=help)


def convention(p) -> None:
    p.add_argument("--convention", action="append", default=[], metavar="KEY=VALUE",
                   help="override an input convention, e.g. name=rinna, max_length=256, explicit_position_ids=false, "
                        "suffix=[SEP], normalization=nfkc+lowercase; repeat for several")


def int8(p) -> None:
    p.add_argument("--int8", action="store_true",
                   help="dynamic int8 quantization of the linear layers: faster on CPU, slightly less accurate")


def texts(p, what: str = "texts") -> None:
    p.add_argument("text", nargs="*", metavar="TEXT", help=f"{what} (or use --input)")
    p.add_argument("--input", metavar="FILE", help="read texts from FILE, one per line ('-' = stdin)")


def read_texts(texts: list[str], input_file: str | Path | None) -> list[str]:
    """Texts from the command line and/or a file (one per line, '-' = stdin); blank lines are skipped and counted."""
    texts = list(texts or [])
    if input_file is not None:
        path = Path(input_file)
        if str(input_file) == "-":
            lines = sys.stdin.read().splitlines()
        else:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError as exc:
                raise JarobertaError(f"input file {path} does not exist") from exc
            except UnicodeDecodeError as exc:
                raise JarobertaError(f"{path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8") from exc
            except OSError as exc:
                raise JarobertaError(f"cannot read --input {path}: {exc}") from exc
        blank = sum(1 for line in lines if not line.strip())
        if blank:
            log.info("%s: skipped %d blank line(s)", input_file, blank)
        texts.extend(line for line in lines if line.strip())
    if not texts:
        raise JarobertaError("no text given: pass TEXT arguments or --input FILE (one text per line, '-' = stdin)")
    return texts


def quiet_transformers() -> None:
    """Our own logs say which weights start random; transformers' per-weight report and its
    per-file progress bars are noise on the command line (`--no-progress`: see `jaroberta.cli`)."""
    silence_transformers()


def print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))
