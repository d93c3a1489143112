"""CLI: `jaroberta fill-mask`, `score`, `embed`, `eval perplexity` and `eval jglue`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaroberta import api
from jaroberta.commands import options
from jaroberta.errors import JarobertaError
from jaroberta.infer import render


# -- options every command that loads a model shares --------------------------------
def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL",
                   help="model folder or Hugging Face hub id (e.g. rinna/japanese-roberta-base): saved by jaroberta, "
                        "or a checkpoint in rinna's or JMedRoBERTa's layout")
    options.revision(p)
    options.user_dict(p)
    options.convention(p)
    p.add_argument("--batch-size", type=int, default=32, help="inputs per forward pass (default: 32)")
    options.int8(p)
    options.device(p, "; cpu with --int8")


def _truncate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--truncate", action="store_true",
                   help="cut texts longer than the model's limit instead of stopping with an error")


def _load(args, head: str = "mlm") -> api.Model:
    options.quiet_transformers()
    return api.load(args.model, revision=args.revision, user_dict=args.user_dict, convention=args.convention, device=args.device,
                    int8=args.int8, head=head)


# -- fill-mask -----------------------------------------------------------------------
def register_fill_mask(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Write [MASK] where a word is missing; jaroberta tokenizes the text around it, puts the mask id "
                    "in after tokenization and frames the input as the model was trained (rinna: [CLS] + pieces, "
                    "positions from 0). Several masks per text are predicted independently; --span N fills one "
                    "mask with an answer of N pieces.",
    )
    _model_options(p)
    options.texts(p)
    _truncate(p)
    p.add_argument("--top-k", type=int, default=5, help="candidates per mask (default: 5)")
    p.add_argument("--targets", metavar="A,B,...",
                   help="score only these comma-separated candidates; a candidate of several pieces is scored "
                        "by filling as many masks left to right")
    p.add_argument("--span", type=int, metavar="N",
                   help="fill the text's single [MASK] with an answer of N pieces (see --strategy)")
    p.add_argument("--strategy", choices=["greedy", "beam"], default="greedy",
                   help="with --span: greedy completes each of the top-k first pieces; beam keeps --beam-size "
                        "partial answers (default: greedy)")
    p.add_argument("--beam-size", type=int, default=4, help="with --span --strategy beam: beam width (default: 4)")
    options.as_json(p, "print one JSON object per text instead of a table")
    p.set_defaults(run=run_fill_mask)


def run_fill_mask(args) -> int:
    texts = options.read_texts(args.text, args.input)
    model = _load(args)
    if args.span:
        for text in texts:
            candidates = model.fill_span(text, args.span, strategy=args.strategy, beam_size=args.beam_size,
                                         top_k=args.top_k, batch_size=args.batch_size)
            if args.json:
                print(json.dumps({"text": text, "candidates": [c.to_dict() for c in candidates]}, ensure_ascii=False))
            else:
                print(render.span_table(text, candidates))
        return 0
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets else None
    results = model.fill_mask(texts, top_k=args.top_k, targets=targets, batch_size=args.batch_size, truncate=args.truncate)
    if args.json:
        render.print_json_lines(results)
    else:
        print(render.fill_mask_table(results))
    return 0


# -- score ---------------------------------------------------------------------------
def register_score(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Mask each piece of each text in turn and sum the log-probabilities of the true pieces "
                    "(pseudo-log-likelihood); pseudo-perplexity = exp(-PLL / pieces). Lower perplexity = more "
                    "natural to the model.",
    )
    _model_options(p)
    options.texts(p)
    _truncate(p)
    options.as_json(p, "print one JSON object per text instead of a table")
    options.no_progress(p)
    p.set_defaults(run=run_score)


def run_score(args) -> int:
    texts = options.read_texts(args.text, args.input)
    scores = _load(args).score(texts, batch_size=args.batch_size, truncate=args.truncate)
    if args.json:
        render.print_json_lines(scores)
    else:
        print(render.score_table(scores))
    return 0


# -- embed ---------------------------------------------------------------------------
def register_embed(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        usage="jaroberta embed [options] MODEL OUT.npy [TEXT ...]",
        description="Encode each text (TEXT arguments and/or the lines of --input) and save a float32 array "
                    "(texts x hidden) as OUT.npy; row i is text i (blank lines are skipped and reported).",
    )
    _model_options(p)
    p.add_argument("out", nargs="?", metavar="OUT.npy", help="where to write the embeddings (.npy)")
    options.texts(p)
    options.alias(p, "--out", dest="out_option", type=Path, metavar="X.npy")
    _truncate(p)
    p.add_argument("--pooling", choices=["mean", "cls"], default="mean",
                   help="mean of the token vectors, or the [CLS] vector (default: mean)")
    p.add_argument("--normalize", action="store_true", help="L2-normalize every vector (cosine similarity = dot product)")
    options.as_json(p, "print a JSON summary (path, rows, dimensions) instead of a line")
    options.no_progress(p)
    p.set_defaults(run=run_embed)


def run_embed(args) -> int:
    out, texts = args.out, list(args.text)
    if getattr(args, "out_option", None) is not None:  # the old spelling: `embed MODEL --input F --out X.npy`
        texts = ([out] if out else []) + texts
        out = args.out_option
    if out is None:
        raise JarobertaError("give OUT.npy, the file to write the embeddings to: jaroberta embed MODEL OUT.npy ...")
    texts = options.read_texts(texts, args.input)
    embeddings = _load(args, head="base").embed(texts, pooling=args.pooling, normalize=args.normalize,
                                                batch_size=args.batch_size, truncate=args.truncate)
    path = embeddings.save(out)
    rows, dims = embeddings.vectors.shape
    if args.json:
        options.print_json({"path": str(path), "rows": rows, "dimensions": dims, "pooling": args.pooling,
                            "normalized": args.normalize})
    else:
        print(f"wrote {path}: {rows} x {dims} float32 ({args.pooling} pooling)")
    return 0


# -- eval perplexity -----------------------------------------------------------------
def register_eval(subparsers, name: str, help: str) -> None:
    group = subparsers.add_parser(name, help=help)
    commands = group.add_subparsers(dest="eval_command", metavar="ACTION")
    p = commands.add_parser(
        "perplexity",
        help="document perplexity: masked-token perplexity of whole documents (rinna's definition)",
        description="exp of the mean cross-entropy of masked tokens: each document is [CLS] + its pieces (long "
                    "ones cut into windows), 15% of the pieces replaced by [MASK] with a fixed seed. Not pretraining's "
                    "dev rows perplexity (packed rows at the run's mask rate).",
    )
    _model_options(p)
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder from `jaroberta corpus build`")
    p.add_argument("--split", default="dev", help="corpus split to read (default: dev)")
    p.add_argument("--mask-seed", type=int, default=0,
                   help="seed of the fixed masks (default: 0)")
    options.alias(p, "--seed", dest="mask_seed", type=int)
    p.add_argument("--mask-rate", type=float, default=0.15, help="fraction of pieces masked (default: 0.15)")
    options.alias(p, "--rate", dest="mask_rate", type=float)
    p.add_argument("--eval-limit", type=int, metavar="N", help="evaluate at most N documents (default: all)")
    options.alias(p, "--max-documents", dest="eval_limit", type=int)
    options.as_json(p, "print the report as JSON")
    options.no_progress(p)
    p.set_defaults(run=run_perplexity)
    _register_jglue(commands)


def run_perplexity(args) -> int:
    report = _load(args).perplexity(args.corpus, split=args.split, seed=args.mask_seed, mask_rate=args.mask_rate,
                                    batch_size=args.batch_size, eval_limit=args.eval_limit)
    print(json.dumps(report.to_dict()) if args.json else report.describe())
    return 0


# -- eval jglue ------------------------------------------------------------------------
def _register_jglue(commands) -> None:
    p = commands.add_parser(
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
    p.add_argument("--seed", type=int, default=42, help="seed of the heads, the example order and dropout (default: 42)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="mixed precision: auto = bf16/fp16 on GPUs, fp32 on CPU (default: auto)")
    options.device(p, "; under torchrun LOCAL_RANK picks the GPU")
    options.as_json(p, "print results.json instead of the table")
    options.no_progress(p)
    p.set_defaults(run=run_jglue)


def run_jglue(args) -> int:
    options.quiet_transformers()
    result = api.eval_jglue(args.model, args.out, data=args.data, tasks=args.tasks, user_dict=args.user_dict,
                            no_progress=args.no_progress, revision=args.revision, lr=args.lr, epochs=args.epochs,
                            train_limit=args.train_limit, init=args.init, batch_size=args.batch_size,
                            micro_batch=args.micro_batch, word_boundaries=args.word_boundaries, zero_shot=args.zero_shot,
                            card=args.card, seed=args.seed, precision=args.precision, device=args.device)
    if not result.is_main:
        return 0
    if args.json:
        options.print_json(result.to_dict())
        return 0
    print(result.markdown)
    print(f"results: {result.out / 'results.json'}")
    return 0
