"""`jaroberta eval perplexity MODEL CORPUS` (document perplexity on a corpus split) and
`jaroberta eval jglue MODEL OUT --data JGLUE` (JGLUE's dev table)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaroberta.commands import options

CONFIG = "jaroberta.infer.configs:PerplexityConfig"


def register(subparsers, name: str, help: str) -> None:
    actions = options.group(subparsers, name, help)
    p = actions.add_parser(
        "perplexity",
        help="document perplexity: masked-token perplexity of whole documents (rinna's definition)",
        description="exp of the mean cross-entropy of masked tokens: each document is [CLS] + its pieces (long "
                    "ones cut into windows), 15%% of the pieces replaced by [MASK] with a fixed seed. Not pretraining's "
                    "dev rows perplexity (packed rows at the run's mask rate).",
    )
    options.model_options(p, batch=False)
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder from `jaroberta corpus build`")
    options.add_config(p, CONFIG, flags={"eval_limit": {"type": int, "metavar": "N",
                                                        "help": "evaluate at most N documents (default: all)"}})
    options.as_json(p, "print the report as JSON")
    options.no_progress(p)
    p.set_defaults(run=run)
    _register_jglue(actions)


def _register_jglue(actions) -> None:
    p = actions.add_parser(
        "jglue",
        help="JGLUE's dev table: fine-tune and score MODEL on every task of a JGLUE checkout",
        description="Fine-tune MODEL on each JGLUE task whose train and valid files are found in --data (MARC-ja from your "
                    "own conversion), with JGLUE's settings (max length per task, warmup 0.1, batch 32, learning rate "
                    "{5e-5, 3e-5, 2e-5} x epochs {3, 4} picked on dev), and write OUT/results.json, OUT/results.md "
                    "(JGLUE's table beside its published rows) and OUT/<task>/predictions.jsonl. Rerun to continue: "
                    "finished settings are not run again.",
    )
    p.add_argument("model", metavar="MODEL", help="pretrained model folder or hub id")
    p.add_argument("out", type=Path, metavar="OUT", help="output folder (a rerun continues it)")
    p.add_argument("--data", type=Path, required=True, metavar="JGLUE", help="a JGLUE checkout: its root or its datasets/ folder")
    p.add_argument("--tasks", metavar="A,B", help="tasks to run: marc-ja, jsts, jnli, jsquad, jcommonsenseqa (default: all found)")
    p.add_argument("--lr", type=float, help="one learning rate instead of JGLUE's grid")
    p.add_argument("--epochs", type=int, help="one epoch count instead of JGLUE's grid")
    p.add_argument("--train-limit", type=int, metavar="N", help="train on the first N examples of each task (a quick CPU run)")
    p.add_argument("--init", choices=["pretrained", "random"], default="pretrained",
                   help="start from the pretrained weights, or the same architecture from random weights (a baseline)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per optimizer step (default: 32, JGLUE's)")
    p.add_argument("--micro-batch", type=int, help="examples per forward pass per process (default: the batch over the processes)")
    p.add_argument("--word-boundaries", choices=["mecab"],
                   help="JSQuAD with a SentencePiece model: keep pieces inside MeCab words (a higher boundary ceiling)")
    p.add_argument("--no-zero-shot", dest="zero_shot", action="store_false", help="skip JSTS zero-shot (cosine of embed vectors)")
    p.add_argument("--card", action="store_true", help="add the scores to MODEL's README.md model-index (the rest kept)")
    options.user_dict(p)
    options.revision(p)
    p.add_argument("--seed", type=int, help="seed of the heads, the example order and dropout (default: fine-tuning's 42)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="mixed precision: auto = bf16/fp16 on GPUs, fp32 on CPU (default: auto)")
    options.device(p, "; under torchrun LOCAL_RANK picks the GPU")
    options.as_json(p, "print results.json instead of the table")
    options.no_progress(p)
    p.set_defaults(run=run_jglue)


def run_jglue(args: argparse.Namespace) -> int:
    result = options.api().eval_jglue(
        args.model, args.out, data=args.data, tasks=args.tasks, user_dict=args.user_dict, revision=args.revision,
        lr=args.lr, epochs=args.epochs, train_limit=args.train_limit, init=args.init, batch_size=args.batch_size,
        micro_batch=args.micro_batch, word_boundaries=args.word_boundaries, zero_shot=args.zero_shot, card=args.card,
        seed=args.seed, precision=args.precision, device=args.device, progress=not args.no_progress)
    if not result.is_main:
        return 0
    if args.json:
        options.print_json(result.to_dict())
        return 0
    print(result.markdown)
    print(f"results: {result.out / 'results.json'}")
    return 0


def run(args: argparse.Namespace) -> int:
    report = options.load(args).perplexity(args.corpus, **options.config_values(args, CONFIG))
    print(json.dumps(report.to_dict()) if args.json else report.describe())
    return 0
