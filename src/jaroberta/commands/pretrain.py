"""`jaroberta pretrain SHARDS OUT --steps N`: masked-LM pretraining (CPU, GPU or torchrun)."""

from __future__ import annotations

import argparse

from jaroberta.commands import options
from jaroberta.core.runtime import processes

CONFIG = "jaroberta.train.pretrain:PretrainConfig"


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Masked-LM pretraining with the seeds' recipes scaled to --steps: dynamic masking, AdamW, linear "
                    "warmup/decay, accumulation, mixed precision, dev rows perplexity, atomic checkpoints, exact --resume. "
                    "Options left out take the recipe's value (decided once, saved in OUT/config.json). "
                    "Launch with `torchrun --nproc_per_node N -m jaroberta pretrain ...` for several processes.",
    )
    options.add_config(p, CONFIG, positional=("shards", "out"), flags={
        "preset": {"choices": options.keys("jaroberta.model.presets:PRESETS")},
        "recipe": {"choices": options.keys("jaroberta.model.families:RECIPES")},
    })
    options.as_json(p, "print the final metrics and folders as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = options.api().pretrain(**options.config_values(args, CONFIG))
    if not processes().is_main:  # torchrun: one report, from rank 0
        return 0
    if args.json:
        options.print_json({"steps": result.steps, "metrics": result.metrics, "model": str(result.model_dir),
                            "log": str(result.run_dir / "log.jsonl")})
    else:
        print(f"dev rows perplexity {result.metrics['dev_rows_perplexity']:.3f} (loss {result.metrics['dev_loss']:.4f} on "
              f"the packed dev rows at the run's mask rate) after "
              f"{result.steps} steps; model: {result.model_dir}; logs: {result.run_dir / 'log.jsonl'}")
    return 0
