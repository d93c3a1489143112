"""`jaroberta predict MODEL TEXT...`: a fine-tuned model's labels, scores or entities."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaroberta.commands import options
from jaroberta.core.hub import resolve_model


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Run a model written by `jaroberta finetune`. Classification prints the label and its probability, "
                    "regression the score, NER the entities with character offsets into the input, QA the answer "
                    "(a span of the context), multiple choice the index of the choice. Sentence-pair models take "
                    "'sentence1<TAB>sentence2' per line, QA 'question<TAB>context', multiple choice "
                    "'question<TAB>choice0<TAB>choice1...', or JSON lines with those fields.",
    )
    options.model_options(p, "fine-tuned model folder (OUT/best of `jaroberta finetune`) or hub id")
    p.add_argument("text", nargs="*", metavar="TEXT", help="texts (pairs: 'sentence1<TAB>sentence2'), or use --input")
    p.add_argument("--input", metavar="FILE",
                   help="read inputs from FILE: one per line ('-' = stdin), or JSON lines (.jsonl) with text / sentence1, sentence2")
    options.truncate(p)
    options.as_json(p, "print one JSON object per input instead of a table")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = resolve_model(args.model, args.revision)  # a hub id, once: predict gets the folder
    kind = options.library("finetune.kinds").kind_of_head(options.library("finetune.finetuned").read_head(model))
    inputs = _read_inputs(args, kind)
    results = options.api().predict(model, inputs, user_dict=args.user_dict, convention=args.convention, device=args.device,
                          int8=args.int8, batch_size=args.batch_size, truncate=args.truncate,
                          where=str(args.input) if args.input else "input")
    for result in results:
        print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else _line(result.to_dict()))
    return 0


def _read_inputs(args, kind) -> list:
    """The inputs as the model's kind reads them: JSON lines with --input FILE.jsonl, else one per line."""
    read_inputs = options.library("finetune.predict").read_inputs
    if args.input is not None and Path(args.input).suffix.lower() in options.constant("jaroberta.finetune.data:JSON_SUFFIXES"):
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
