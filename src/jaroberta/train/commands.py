"""CLI: `jaroberta pack`, `jaroberta pretrain` and `jaroberta demo`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from jaroberta.model.presets import PRESETS


def register(subparsers) -> None:
    _register_pack(subparsers)
    _register_pretrain(subparsers)
    _register_demo(subparsers)


def _register_pack(subparsers) -> None:
    p = subparsers.add_parser(
        "pack",
        help="tokenize a corpus into memory-mapped shards for pretraining",
        description="Tokenize the train and dev splits of a corpus folder into fixed-length rows (uint16 ids where "
                    "the vocabulary fits) with word ids for whole-word masking. Layouts: 'document' (rinna: [CLS] + one "
                    "document, truncated) and 'full' (RoBERTa FULL-SENTENCES: documents back to back, [SEP] between).",
    )
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder made by `jaroberta corpus build`")
    p.add_argument("tokenizer", type=Path, metavar="TOKENIZER",
                   help="tokenizer folder (`jaroberta tokenizer train`), or a model folder whose tokenizer to use")
    p.add_argument("out", type=Path, metavar="OUT", help="shard folder to write")
    p.add_argument("--seq-len", type=int, default=512, help="row length, special tokens included (default: 512)")
    p.add_argument("--layout", choices=["document", "full"], default="document",
                   help="document (rinna: one document per row) or full (packed back to back, JMedRoBERTa) (default: document)")
    p.add_argument("--workers", type=int, default=1, help="tokenizer workers: threads, or processes where MeCab cannot run without the GIL (default: 1)")
    p.set_defaults(run=_pack)


def _register_pretrain(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a masked language model on packed shards (CPU, GPU or torchrun)",
        description="Masked-LM pretraining with the seeds' recipes scaled to --steps: dynamic masking, AdamW, linear "
                    "warmup/decay, accumulation, mixed precision, dev perplexity, atomic checkpoints, exact --resume. "
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
                       help="continue pretraining a model folder (its tokenizer must be the one the shards were packed with)")
    recipe = p.add_argument_group("recipe (defaults: the recipe's values, scaled to --steps)")
    recipe.add_argument("--recipe", choices=["rinna", "jmedroberta"],
                        help="hyperparameters of a seed model (default: the seed of the shards' tokenizer family)")
    recipe.add_argument("--steps", type=int, required=True, help="optimizer steps")
    recipe.add_argument("--micro-batch", type=int, default=16, help="rows per forward pass per process (default: 16)")
    recipe.add_argument("--accumulation", type=int, default=1,
                        help="micro-batches per optimizer step; global batch = micro-batch x accumulation x processes (default: 1)")
    recipe.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    recipe.add_argument("--warmup-steps", type=int, help="linear warmup steps (default: the recipe's share of --steps)")
    recipe.add_argument("--weight-decay", type=float, help="AdamW weight decay (default: the recipe's)")
    recipe.add_argument("--clip", type=float, help="gradient-norm clipping, 0 = none (default: the recipe's)")
    recipe.add_argument("--mask-rate", type=float, help="fraction of tokens masked (default: the recipe's, 0.15)")
    recipe.add_argument("--whole-word", action=argparse.BooleanOptionalAction, default=None,
                        help="whole-word masking (default: on for the MeCab family with the jmedroberta recipe)")
    recipe.add_argument("--seed", type=int, help="seed of init, data order and masks (default: the recipe's)")
    recipe.add_argument("--group-by-length", action="store_true",
                        help="batch rows of similar length together: training pays for real tokens, not padding "
                             "(document layout); the order stays fixed by --seed and resumable")
    run = p.add_argument_group("run")
    run.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                     help="auto = bf16 on GPUs that have it, fp16 on other GPUs, fp32 on CPU (default: auto)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (slow first step, faster after)")
    run.add_argument("--eval-every", type=int, default=0, help="dev evaluation every N steps, 0 = at the end only (default: 0)")
    run.add_argument("--eval-rows", type=int, default=512, help="dev rows evaluated, 0 = all (default: 512)")
    run.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps, 0 = at the end only (default: 0)")
    run.add_argument("--keep-checkpoints", type=int, default=2, help="newest checkpoints kept (default: 2)")
    run.add_argument("--log-every", type=int, default=10, help="train line in log.jsonl every N steps (default: 10)")
    run.add_argument("--patience", type=int, default=0,
                     help="stop after N evaluations without a better dev loss, 0 = never (default: 0)")
    run.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    run.add_argument("--timeout-s", type=float, default=600.0,
                     help="torchrun: seconds a process waits for the others before the run stops with the lost rank "
                          "named; must exceed rank 0's evaluation time (default: 600)")
    p.set_defaults(run=_pretrain)


def _register_demo(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the whole path on the default corpus: corpus, tokenizer, pack, pretrain, perplexity, fill-mask",
        description="Build the default corpus, train a SentencePiece tokenizer, pack, pretrain a 4-layer model "
                    "(3,600 steps: about half an hour on 2 CPU cores), report dev perplexity and fill-mask examples, "
                    "and print where everything went.",
    )
    p.add_argument("out", type=Path, nargs="?", default=Path("demo"), metavar="OUT", help="demo folder (default: demo)")
    p.add_argument("--steps", type=int, default=3600,
                   help="pretraining steps; the default leaves the unigram plateau (default: 3600)")
    p.add_argument("--minutes", type=float, default=None,
                   help="a pretraining time budget instead of --steps: as many steps as fit, measured on this machine")
    p.add_argument("--preset", default="mini", choices=sorted(PRESETS), help="model preset (default: mini)")
    p.add_argument("--vocab-size", type=int, default=2000, help="SentencePiece vocabulary size (default: 2000)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    p.add_argument("--mask-rate", type=float, default=0.4, help="fraction of tokens masked (default: 0.4)")
    p.set_defaults(run=_demo)


# -- handlers: one library call each ---------------------------------------------------------
def _pack(args: argparse.Namespace) -> int:
    from jaroberta.corpus.pack import PackConfig, pack

    header = pack(PackConfig(corpus=args.corpus, tokenizer=args.tokenizer, out=args.out, seq_len=args.seq_len,
                             layout=args.layout, workers=args.workers))
    rows = ", ".join(f"{split} {s.rows} rows / {s.tokens} tokens / {s.padding_share:.0%} padding"
                     for split, s in header.splits.items())
    print(f"shards written to {args.out} ({header.layout} layout, seq_len {header.seq_len}): {rows}")
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from jaroberta.train.pretrain import PretrainConfig, loop_config, pretrain, resolve_recipe

    config = PretrainConfig(
        shards=args.shards, preset=args.preset, model_config=args.model_config, init_from=args.init_from,
        recipe=args.recipe, micro_batch=args.micro_batch, accumulation=args.accumulation, mask_rate=args.mask_rate,
        whole_word=args.whole_word, eval_rows=args.eval_rows, seed=args.seed, group_by_length=args.group_by_length,
    )
    loop = loop_config(
        resolve_recipe(config), args.out, args.steps, lr=args.lr, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, clip=args.clip, seed=args.seed, precision=args.precision, device=args.device,
        compile=args.compile, eval_every=args.eval_every, save_every=args.save_every, keep_checkpoints=args.keep_checkpoints,
        log_every=args.log_every, patience=args.patience, resume=args.resume, timeout_s=args.timeout_s,
    )
    result = pretrain(config, loop)
    if int(os.environ.get("RANK", 0)) == 0:  # torchrun: one report, from rank 0
        print(f"dev perplexity {result.metrics['dev_perplexity']:.3f} (loss {result.metrics['dev_loss']:.4f}) after "
              f"{result.steps} steps; model: {result.model_dir}; logs: {result.run_dir / 'log.jsonl'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from jaroberta.train.demo import DemoConfig, run_demo

    run_demo(DemoConfig(out=args.out, steps=args.steps, minutes=args.minutes, preset=args.preset, vocab_size=args.vocab_size,
                        lr=args.lr, mask_rate=args.mask_rate))
    return 0
