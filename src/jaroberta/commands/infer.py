"""CLI: `jaroberta fill-mask`, `score`, `embed` and `eval perplexity`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transformers.utils import logging as hf_logging

from jaroberta.infer import render
from jaroberta.infer.embeddings import embed, save_embeddings
from jaroberta.infer.fill_mask import fill_mask, fill_span
from jaroberta.infer.scoring import pseudo_log_likelihood
from jaroberta.model.loading import load, parse_convention_args, resolve_conventions
from jaroberta.model.perplexity import masked_perplexity
from jaroberta.text.hub import REVISION_HELP, resolve_model


def register(subparsers) -> None:
    _register_fill_mask(subparsers)
    _register_score(subparsers)
    _register_embed(subparsers)
    _register_eval(subparsers)


# -- options every command that loads a model shares --------------------------------
def _model_options(p: argparse.ArgumentParser, *, int8: bool = True) -> None:
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="model folder or Hugging Face hub id (e.g. rinna/japanese-roberta-base): saved by jaroberta, "
                        "or a checkpoint in rinna's or JMedRoBERTa's layout")
    p.add_argument("--revision", metavar="REV", help=REVISION_HELP)
    p.add_argument("--user-dict", type=Path, action="append", default=[], metavar="PATH",
                   help="MeCab user dictionary (.dic) the tokenizer needs, matched by file name; overrides the "
                        "absolute path in JMedRoBERTa's tokenizer_config.json; repeat for several")
    p.add_argument("--convention", action="append", default=[], metavar="KEY=VALUE",
                   help="override an input convention, e.g. name=rinna, max_length=256, explicit_position_ids=false, "
                        "suffix=[SEP], normalization=nfkc+lowercase; repeat for several")
    p.add_argument("--batch-size", type=int, default=32, help="inputs per forward pass (default: 32)")
    if int8:
        p.add_argument("--int8", action="store_true",
                       help="dynamic int8 quantization of the linear layers: faster on CPU, slightly less accurate")


def _texts_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="*", metavar="TEXT", help="texts (or use --input)")
    p.add_argument("--input", type=Path, metavar="FILE", help="read texts from FILE, one per line ('-' = stdin)")
    p.add_argument("--truncate", action="store_true",
                   help="cut texts longer than the model's limit instead of stopping with an error")


def _load(args, head: str = "mlm"):
    overrides = parse_convention_args(args.convention)
    folder = resolve_model(args.model, args.revision)
    conventions = resolve_conventions(folder, overrides) if overrides else None

    hf_logging.disable_progress_bar()  # a bar per weight file is noise on the command line
    return load(folder, conventions=conventions, user_dicts=args.user_dict or None,
                quantize="int8" if getattr(args, "int8", False) else None, head=head)


# -- fill-mask -----------------------------------------------------------------------
def _register_fill_mask(subparsers) -> None:
    p = subparsers.add_parser(
        "fill-mask",
        help="predict the words behind [MASK] in texts",
        description="Write [MASK] where a word is missing; jaroberta tokenizes the text around it, puts the mask id "
                    "in after tokenization and frames the input as the model was trained (rinna: [CLS] + pieces, "
                    "positions from 0). Several masks per text are predicted independently; --span N fills one "
                    "mask with an answer of N pieces.",
    )
    _model_options(p)
    _texts_options(p)
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
    p.add_argument("--json", action="store_true", help="print one JSON object per text instead of a table")
    p.set_defaults(run=run_fill_mask)


def run_fill_mask(args) -> int:
    texts = render.read_texts(args.text, args.input)
    lm = _load(args)
    if args.span:
        for text in texts:
            candidates = fill_span(lm, text, n_masks=args.span, strategy=args.strategy, beam_size=args.beam_size,
                                   top_k=args.top_k, batch_size=args.batch_size)
            if args.json:
                print(json.dumps({"text": text, "candidates": [c.to_dict() for c in candidates]}, ensure_ascii=False))
            else:
                print(render.span_table(text, candidates))
        return 0
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets else None
    results = fill_mask(lm, texts, top_k=args.top_k, targets=targets, batch_size=args.batch_size, truncate=args.truncate)
    if args.json:
        render.print_json_lines(results)
    else:
        print(render.fill_mask_table(results))
    return 0


# -- score ---------------------------------------------------------------------------
def _register_score(subparsers) -> None:
    p = subparsers.add_parser(
        "score",
        help="pseudo-log-likelihood and pseudo-perplexity of texts",
        description="Mask each piece of each text in turn and sum the log-probabilities of the true pieces "
                    "(pseudo-log-likelihood); pseudo-perplexity = exp(-PLL / pieces). Lower perplexity = more "
                    "natural to the model.",
    )
    _model_options(p)
    _texts_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per text instead of a table")
    p.set_defaults(run=run_score)


def run_score(args) -> int:
    texts = render.read_texts(args.text, args.input)
    scores = pseudo_log_likelihood(_load(args), texts, batch_size=args.batch_size, truncate=args.truncate)
    if args.json:
        render.print_json_lines(scores)
    else:
        print(render.score_table(scores))
    return 0


# -- embed ---------------------------------------------------------------------------
def _register_embed(subparsers) -> None:
    p = subparsers.add_parser(
        "embed",
        help="sentence embeddings of texts, saved as .npy",
        description="Encode each line of --input and save a float32 array (lines x hidden) as .npy; row i is line "
                    "i of the file (blank lines are skipped and reported).",
    )
    _model_options(p)
    p.add_argument("--input", type=Path, required=True, metavar="FILE", help="texts, one per line ('-' = stdin)")
    p.add_argument("--out", type=Path, required=True, metavar="X.npy", help="where to write the embeddings (.npy)")
    p.add_argument("--pooling", choices=["mean", "cls"], default="mean",
                   help="mean of the token vectors, or the [CLS] vector (default: mean)")
    p.add_argument("--normalize", action="store_true", help="L2-normalize every vector (cosine similarity = dot product)")
    p.add_argument("--truncate", action="store_true",
                   help="cut texts longer than the model's limit instead of stopping with an error")
    p.set_defaults(run=run_embed)


def run_embed(args) -> int:
    texts = render.read_texts([], args.input)
    vectors = embed(_load(args, head="base"), texts, pooling=args.pooling, batch_size=args.batch_size,
                    normalize=args.normalize, truncate=args.truncate)
    path = save_embeddings(vectors, args.out)
    print(f"wrote {path}: {vectors.shape[0]} x {vectors.shape[1]} float32 ({args.pooling} pooling)")
    return 0


# -- eval perplexity -----------------------------------------------------------------
def _register_eval(subparsers) -> None:
    group = subparsers.add_parser("eval", help="evaluate a model on a corpus")
    commands = group.add_subparsers(dest="eval_command", metavar="ACTION")
    p = commands.add_parser(
        "perplexity",
        help="dev masked-token perplexity (rinna's definition), comparable across models",
        description="exp of the mean cross-entropy of masked tokens: each document is [CLS] + its pieces (long "
                    "ones cut into windows), 15% of the pieces replaced by [MASK] with a fixed seed.",
    )
    _model_options(p)
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder from `jaroberta corpus build`")
    p.add_argument("--split", default="dev", help="corpus split to read (default: dev)")
    p.add_argument("--seed", type=int, default=0, help="seed of the masks (default: 0)")
    p.add_argument("--rate", type=float, default=0.15, help="fraction of pieces masked (default: 0.15)")
    p.add_argument("--max-documents", type=int, metavar="N", help="read at most N documents (default: all)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run_perplexity)


def run_perplexity(args) -> int:
    report = masked_perplexity(_load(args), args.corpus, split=args.split, seed=args.seed, rate=args.rate,
                               batch_size=args.batch_size, max_documents=args.max_documents)
    print(json.dumps(report.to_dict()) if args.json else report.describe())
    return 0
