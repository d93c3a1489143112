"""`jaroberta serve MODEL`: the local HTTP service and its web page."""

from __future__ import annotations

import argparse

from jaroberta.commands import options
from jaroberta.errors import JarobertaError

CONFIG = "jaroberta.service.config:ServeConfig"


def register(subparsers, name: str, help: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help,
        description="Serve MODEL on http://HOST:PORT/: fill-mask, score, embed and tokenize as JSON under /api, "
        "a web page at / to try [MASK] sentences, and offline API docs at /docs. Requests from many clients "
        "are batched together.",
    )
    options.model_options(parser, batch=False)
    options.add_config(parser, CONFIG, flags={"allowed_hosts": {"type": options.names, "metavar": "NAMES", "default": ()}})
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    api = options.api()
    try:
        config = api.ServeConfig(**options.config_values(args, CONFIG))
    except ValueError as exc:
        raise JarobertaError(f"invalid server option: {exc}") from exc
    api.serve(args.model, config, user_dict=args.user_dict, convention=args.convention, device=args.device,
              int8=args.int8, revision=args.revision)
    return 0
