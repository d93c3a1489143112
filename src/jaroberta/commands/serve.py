"""`jaroberta serve MODEL`: the local HTTP service and its web page."""

from __future__ import annotations

import argparse
from dataclasses import fields

from jaroberta.errors import JarobertaError
from jaroberta.model.loading import parse_convention_args
from jaroberta.serve.config import ServeConfig
from jaroberta.serve.server import serve
from jaroberta.text.hub import REVISION_HELP, resolve_model

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
    "max_text_chars": "longest text accepted, in characters",
    "max_masks": "most [MASK] tokens in one text",
    "max_top_k": "largest top_k a fill-mask request may ask",
    "max_score_pieces": "most pieces one score request may ask to score (each is one forward pass of its text)",
    "timeout_s": "seconds before an unanswered request gets 504",
    "max_body_bytes": "largest request body in bytes; larger gets 413 before parsing",
    "read_timeout_s": "seconds a client may take to send one request (headers and body); slower gets 408 and is disconnected",
    "max_connections": "most open connections; one more gets 503 and is disconnected",
    "allowed_hosts": "comma-separated names the Host header may give, any port ('*': any name); default: localhost, "
    "127.0.0.1 and [::1] on a loopback bind (stops DNS rebinding), any name otherwise",
    "threads": "intra-op threads of the model; 0 = every core but one, left to the HTTP event loop",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP: JSON API, web page at /, API docs at /docs",
        description="Serve MODEL on http://HOST:PORT/: fill-mask, score, embed and tokenize as JSON under /api, "
        "a web page at / to try [MASK] sentences, and offline API docs at /docs. Requests from many clients "
        "are batched together.",
    )
    parser.add_argument("model", help="model folder or Hugging Face hub id: saved by jaroberta, or a checkpoint in "
                        "rinna's or JMedRoBERTa's layout")
    for field in fields(ServeConfig):
        default = getattr(_DEFAULTS, field.name)
        if isinstance(default, bool):
            parser.add_argument(
                "--" + field.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=default,
                help=f"{_HELP[field.name]} (default: {default})",
            )
            continue
        if isinstance(default, tuple):
            parser.add_argument(
                "--" + field.name.replace("_", "-"), type=_names, default=default, metavar="NAMES",
                help=_HELP[field.name],
            )
            continue
        parser.add_argument(
            "--" + field.name.replace("_", "-"), type=type(default), default=default,
            help=f"{_HELP[field.name]} (default: {default})",
        )
    parser.add_argument("--int8", action="store_true", help="quantize linear layers to int8 (faster on CPU, slightly less accurate)")
    parser.add_argument(
        "--user-dict", action="append", default=[], metavar="DIC",
        help="MeCab user dictionary the tokenizer needs, matched by file name; overrides the absolute path in "
        "JMedRoBERTa's tokenizer_config.json; repeat for several",
    )
    parser.add_argument(
        "--convention", action="append", default=[], metavar="KEY=VALUE",
        help="override an input convention, e.g. name=rinna, max_length=256, explicit_position_ids=false; "
        "repeat for several",
    )
    parser.add_argument("--revision", metavar="REV", help=REVISION_HELP)
    parser.set_defaults(run=run_serve)


def _names(value: str) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c')."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def run_serve(args) -> int:
    try:
        config = ServeConfig(**{f.name: getattr(args, f.name) for f in fields(ServeConfig)})
    except ValueError as exc:
        raise JarobertaError(f"invalid server option: {exc}") from exc
    serve(resolve_model(args.model, args.revision), config, int8=args.int8, user_dicts=args.user_dict,
          conventions=parse_convention_args(args.convention))
    return 0
