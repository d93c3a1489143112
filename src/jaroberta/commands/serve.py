"""`jaroberta serve MODEL`: the local HTTP service and its web page."""

from __future__ import annotations

import argparse
from dataclasses import fields

from jaroberta import api
from jaroberta.commands import options
from jaroberta.errors import JarobertaError
from jaroberta.serve.config import ServeConfig

_DEFAULTS = ServeConfig()

# Help for the options that map one-to-one onto ServeConfig fields (short forms of its field docs).
_HELP = {
    "host": "interface to bind (a non-loopback address exposes the model to the network, with a warning)",
    "port": "TCP port",
    "max_batch": "most texts per forward pass of the batching worker",
    "max_wait_ms": "how long the worker waits for more requests before running a batch, in milliseconds",
    "adaptive_wait": "skip the batching wait while the last batch held a single request",
    "queue_size": "most waiting requests; beyond it requests get 503 with Retry-After",
    "max_texts": "most texts in one request",
    "max_text_chars": "longest text a request may send, in characters",
    "max_masks": "most [MASK] tokens in one text",
    "max_top_k": "largest top_k a fill-mask request may ask",
    "max_score_pieces": "most pieces one score request may ask to score (each is one forward pass of its text)",
    "timeout_s": "seconds before an unanswered request gets 504",
    "admit_share": "admit a request only while the queued work, timed on recent batches, fits in this share of "
    "--timeout-s; beyond it 503 with Retry-After",
    "max_body_bytes": "largest request body in bytes; larger gets 413 before parsing",
    "read_timeout_s": "seconds a client may take to send one request (headers and body); slower gets 408 and is disconnected",
    "max_connections": "most open connections; one more gets 503 and is disconnected",
    "allowed_hosts": "comma-separated names the Host header may give, any port ('*': any name); default: localhost, "
    "127.0.0.1 and [::1] on a loopback bind (stops DNS rebinding), any name otherwise",
    "threads": "CPU threads of the model (torch intra-op); 0 = every core but one, left to the HTTP event loop",
}


# Flags spelled as the shared vocabulary says (README "Flags"), the field name kept as a hidden alias.
_FLAG = {"max_text_chars": "max_chars", "threads": "workers"}


def register(subparsers, name: str, help: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help,
        description="Serve MODEL on http://HOST:PORT/: fill-mask, score, embed and tokenize as JSON under /api, "
        "a web page at / to try [MASK] sentences, and offline API docs at /docs. Requests from many clients "
        "are batched together.",
    )
    parser.add_argument("model", help="model folder or Hugging Face hub id: saved by jaroberta, or a checkpoint in "
                        "rinna's or JMedRoBERTa's layout")
    for field in fields(ServeConfig):
        default = getattr(_DEFAULTS, field.name)
        flag = "--" + _FLAG.get(field.name, field.name).replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=default,
                                help=f"{_HELP[field.name]} (default: {default})")
        elif isinstance(default, tuple):
            parser.add_argument(flag, dest=field.name, type=_names, default=default, metavar="NAMES",
                                help=_HELP[field.name])
        else:
            parser.add_argument(flag, dest=field.name, type=type(default), default=default,
                                help=f"{_HELP[field.name]} (default: {default})")
        if field.name in _FLAG:
            options.alias(parser, "--" + field.name.replace("_", "-"), dest=field.name, type=type(default))
    options.int8(parser)
    options.user_dict(parser)
    options.convention(parser)
    options.device(parser, "; cpu with --int8")
    options.revision(parser)
    parser.set_defaults(run=run_serve)


def _names(value: str) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c')."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def run_serve(args) -> int:
    try:
        config = {f.name: getattr(args, f.name) for f in fields(ServeConfig)}
        ServeConfig(**config)
    except ValueError as exc:
        raise JarobertaError(f"invalid server option: {exc}") from exc
    options.quiet_transformers()
    api.serve(args.model, user_dict=args.user_dict, convention=args.convention, device=args.device, int8=args.int8,
              revision=args.revision, **config)
    return 0
