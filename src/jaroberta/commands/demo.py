"""`jaroberta demo [OUT]`: the whole path on the default corpus, on a CPU."""

from __future__ import annotations

import argparse

from jaroberta.commands import options

CONFIG = "jaroberta.demo:DemoConfig"


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Build the default corpus, train the family's tokenizer (and medical dictionary), pack, pretrain a "
                    "small model (3,600 steps by default; --minutes for a time budget), report dev bits per character (with its standard error) and "
                    "fill-mask examples, and print where everything went.",
    )
    options.add_config(p, CONFIG, positional=("out",), flags={
        "family": {"choices": options.keys("jaroberta.model.families:FAMILIES")},
        "preset": {"choices": options.keys("jaroberta.model.presets:PRESETS")},
    })
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    demo = options.library("demo")
    demo.run_demo(demo.DemoConfig(**options.config_values(args, CONFIG)))
    return 0
