"""`jaroberta adapt BASE INPUT OUT`: a published model adapted to a domain, and what that bought.

domain corpus -> extended tokenizer -> shards -> continued pretraining -> dev bits per character
of the base and of the adapted model, side by side. Each stage writes into its own folder of
`out` (corpus/, tokenizer/, shards/, run/, model/) and the result into `out/report.json`:

- the corpus is built from raw INPUT (anything `corpus build` reads) with the sentence filter
  for web text off (case notes, reports and tables often end without 。), or INPUT is a corpus
  folder already; the corpus of an earlier run in `out` is reused;
- the base tokenizer is extended (`text/extend.py`): up to `add` domain entries appended after
  every base id, learned from the train split. By default as many as the corpus gives, up to
  DEFAULT_ADD, each seen at least DEFAULT_MIN_COUNT times (README, "Adapting a model to a domain");
- the base model grows its embeddings by fast vocabulary transfer (`model/grow.py`) and
  continues pretraining with its family's recipe at a continued-pretraining learning rate;
- the yardstick is `model/char_loss.py`'s masked-LM loss per character on the dev split:
  per-token perplexity changes meaning when the vocabulary does, loss per character of the
  same whole words does not, so the base (with its tokenizer) and the adapted model (with
  the extended one) are measured on exactly the same masked characters.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import AutoConfig, AutoModelForMaskedLM

from jaroberta.api import pack
from jaroberta.core.hub import resolve_model
from jaroberta.core.outputs import claim_output, record_output
from jaroberta.corpus.build import BuildConfig, build_corpus
from jaroberta.corpus.clean import CleanConfig
from jaroberta.corpus.layout import MANIFEST, iter_sentences, read_manifest, training_sentences
from jaroberta.corpus.pack import PackConfig
from jaroberta.errors import JarobertaError
from jaroberta.model.device import resolve_device
from jaroberta.model.char_loss import CharacterLossReport, corpus_bits_per_character, words
from jaroberta.model.card import write_card
from jaroberta.model.loading import load
from jaroberta.text import JaTokenizer, load_tokenizer
from jaroberta.text.extend import ExtendReport, extend_tokenizer, save_extended
from jaroberta.train.pretrain import PretrainConfig, plan_pretraining, pretrain, steps_for_budget

log = logging.getLogger(__name__)

DEFAULT_ADD = 2000
"""Most entries appended by default: a few percent of a published vocabulary (rinna's 32,000),
where the most frequent domain terms, which carry most of the shortening, fit."""
DEFAULT_MIN_COUNT = 5
"""By default an entry must occur this often in the domain's train split: rarer ones barely
shorten the text, and their rows see too few updates to move from their initial mean."""
LR_SHARE = 0.5
"""Continued pretraining's peak learning rate, as a share of the family recipe's: the base is
already trained, and its pretraining peak would undo part of it before the domain is learned."""
WARMUP_SHARE = 0.05
"""Warmup, as a share of the steps: the optimizer's moments start from zero on a trained model."""
STEP_LIMITS = (10, 1_000_000)
"""Fewest and most steps a time budget may turn into."""
YARDSTICK_RATE = 0.15
"""Share of each dev document's words masked for the yardstick (rinna's rate)."""
REPORT = "report.json"


@dataclass
class AdaptConfig:
    """What `jaroberta adapt` does."""

    base: str
    """The model to adapt: a model folder or hub id (rinna's, JMedRoBERTa's or jaroberta's layout)."""
    input: Path
    """Raw domain text (anything `corpus build` reads) or a corpus folder made by it."""
    out: Path
    """Folder for everything adapt writes: corpus/, tokenizer/, shards/, run/, model/, report.json."""
    add: int | None = None
    """Domain entries to append; None = what the corpus gives, up to 2000, each seen at least 5 times."""
    extend: bool = True
    """Extend the vocabulary; off = continue pretraining with the base's own tokenizer (for comparison)."""
    user_dict: tuple[Path, ...] = ()
    """MeCab user dictionaries: the base's (matched by file name) and the domain's (MeCab family)."""
    steps: int = 1000
    """Continued-pretraining steps."""
    minutes: float | None = None
    """Time budget in minutes instead of `steps`: as many steps as fit, measured on this machine."""
    lr: float | None = None
    """Peak learning rate; None = half the family recipe's (rinna 3e-4, JMedRoBERTa 5e-5)."""
    mask_rate: float | None = None
    """Fraction of tokens masked in pretraining; None = the family recipe's (15%)."""
    micro_batch: int = 32
    """Rows per optimizer step."""
    max_length: int = 128
    """Row length in tokens: domain documents packed back to back (full layout)."""
    dev_fraction: float = 0.1
    """Share of a raw INPUT's documents held out as the dev split the yardstick reads."""
    seed: int | None = None
    """Seed of data order and masks; None = the family recipe's."""
    revision: str | None = None
    """Hub revision (commit, branch or tag) of BASE."""
    device: str = "auto"
    """auto, cpu or cuda; auto = cuda when available."""
    workers: int = 1
    """Tokenizer workers."""

    def __post_init__(self) -> None:
        self.input, self.out = Path(self.input), Path(self.out)
        self.user_dict = tuple(Path(p) for p in self.user_dict)
        if self.add is not None and not self.extend:
            raise JarobertaError(f"add {self.add} with extend=False: give one or the other")
        if self.add is not None and self.add <= 0:
            raise JarobertaError(f"add {self.add}: give the number of domain entries to append, a positive number "
                                 f"(or leave it out for what the corpus gives, up to {DEFAULT_ADD:,}); to keep the "
                                 f"base's vocabulary, set extend=False (--no-extend)")
        if self.steps < 1:
            raise JarobertaError(f"steps must be >= 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise JarobertaError(f"minutes must be > 0, got {self.minutes}")
        if self.lr is not None and self.lr <= 0:
            raise JarobertaError(f"lr must be > 0, got {self.lr}")
        if self.micro_batch < 1 or self.max_length < 8:
            raise JarobertaError(f"micro_batch must be >= 1 and max_length >= 8, got {self.micro_batch} and {self.max_length}")
        if not self.input.exists():
            raise JarobertaError(f"{self.input} does not exist: give the domain's text (files or a folder) or a corpus "
                                 f"folder made by `jaroberta corpus build`")


@dataclass
class Side:
    """One model on the domain's dev split."""

    model: str
    """The model folder."""
    bits_per_character: float
    """Masked-LM loss per character of whole words (char_loss)."""
    standard_error: float
    """Its standard error over dev documents."""
    interval: tuple[float, float]
    """Its 95% bootstrap interval over dev documents."""
    bits_per_word: float
    """The same masked-LM loss per masked word: the same words for every model, so this never
    favours pieces that reach past a masked word (which add characters to `bits_per_character`'s divisor)."""
    pieces_per_character: float
    """Pieces the model's tokenizer cuts the dev text into, per character."""
    pieces_per_word: float
    """The same per word (runs of one script: kanji, kana, Latin; other characters alone)."""
    vocab_size: int
    """Entries of the model's tokenizer."""
    yardstick: dict = field(default_factory=dict)
    """The whole char_loss report."""


@dataclass
class AdaptReport:
    """What `jaroberta adapt` did and what it bought (OUT/report.json)."""

    base: str
    """BASE as given."""
    revision: str | None
    """Its hub revision, where known."""
    corpus: str
    """The domain corpus folder."""
    model: str
    """The adapted model folder (AutoModelForMaskedLM loads it)."""
    extension: dict | None
    """The tokenizer extension (entries asked, added, available, pieces per character); None with --no-extend."""
    steps: int
    """Continued-pretraining steps."""
    lr: float
    """Its peak learning rate."""
    tokens_per_second: float
    """Training tokens per second of the run (wall clock, evaluations included)."""
    rows_per_second: float
    """Training rows per second of the run."""
    before: Side
    """The base on the dev split."""
    after: Side
    """The adapted model on the dev split."""
    minutes: float
    """Wall-clock minutes of the whole command."""
    config: dict = field(default_factory=dict)
    """The AdaptConfig this ran with."""

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        lines = [f"{'':8} {'bits/char':>9} {'± s.e.':>7} {'95% interval':>15} {'bits/word':>9} {'pieces/char':>11} "
                 f"{'pieces/word':>11} {'vocab':>7}"]
        for name, side in (("before", self.before), ("after", self.after)):
            low, high = side.interval
            lines.append(f"{name:8} {side.bits_per_character:9.4f} {side.standard_error:7.4f} {low:7.4f}–{high:7.4f} "
                         f"{side.bits_per_word:9.3f} {side.pieces_per_character:11.4f} {side.pieces_per_word:11.4f} {side.vocab_size:7,}")
        return "\n".join(lines)


def adapt(base: str | Path | AdaptConfig, input: str | Path | None = None, out: str | Path | None = None, *,
          add: int | None = None, extend: bool = True, user_dict: tuple[str | Path, ...] = (), steps: int = 1000,
          minutes: float | None = None, lr: float | None = None, mask_rate: float | None = None, micro_batch: int = 32,
          max_length: int = 128, dev_fraction: float = 0.1, seed: int | None = None, revision: str | None = None,
          device: str = "auto", workers: int = 1) -> AdaptReport:
    """Adapt the model `base` (a folder or hub id) to the domain text `input` (raw text or a corpus
    folder) into `out` (`jaroberta adapt`; the parameters are AdaptConfig's fields, or pass an
    AdaptConfig alone): the adapted model is `report.model`, `report.before` and `report.after`
    the dev bits per character of the base and of the adapted model."""
    if isinstance(base, AdaptConfig):
        return run_adapt(base)
    if input is None or out is None:
        raise JarobertaError("adapt needs BASE, INPUT (the domain's text or corpus folder) and OUT (the folder to write)")
    return run_adapt(AdaptConfig(
        base=str(base), input=Path(input), out=Path(out), add=add, extend=extend, user_dict=tuple(Path(p) for p in user_dict),
        steps=steps, minutes=minutes, lr=lr, mask_rate=mask_rate, micro_batch=micro_batch, max_length=max_length,
        dev_fraction=dev_fraction, seed=seed, revision=revision, device=device, workers=workers))


def run_adapt(config: AdaptConfig) -> AdaptReport:
    """Run every stage; write and return the report (`summary` says it for a terminal)."""
    started = time.perf_counter()
    base_dir = resolve_model(config.base, config.revision)
    try:  # before minutes of corpus work
        base_tokenizer = load_tokenizer(base_dir, user_dicts=list(config.user_dict) or None)
    except JarobertaError as exc:
        raise JarobertaError(f"BASE {config.base}: {exc}; adapt extends SentencePiece (rinna family) and MeCab + "
                             f"WordPiece (JMedRoBERTa family) tokenizers") from exc
    # OUT is new, empty, or an earlier adapt's (whose corpus is reused; run/ and model/ start over)
    out = claim_output(config.out, "adapt", resume=True)
    corpus = _corpus(config)
    dev = list(iter_sentences(corpus, "dev"))
    if not dev:
        raise JarobertaError(f"{corpus} has no dev split to measure on: build it with a dev_fraction above 0")
    tokenizer_dir, extension = _tokenizer(config, base_dir, base_tokenizer, corpus, dev)
    shards = out / "shards"
    log.info("[3/5] pack: full rows (documents back to back), max length %d", config.max_length)
    pack(PackConfig(corpus=corpus, tokenizer=tokenizer_dir, out=shards, max_length=config.max_length, layout="full",
                    workers=config.workers, overwrite=True))
    model_dir, steps, lr, throughput = _pretrain(config, base_dir, shards)
    log.info("[5/5] dev bits per character of the base and of the adapted model (%.0f%% of the words, whole-word "
             "fixed-seed masks)", 100 * YARDSTICK_RATE)
    before = _side(base_dir, corpus, dev, config)
    after = _side(model_dir, corpus, dev, config)
    write_card(model_dir, results={"dev": {"domain_bits_per_character": after.bits_per_character,
                                           "domain_bits_per_character_of_the_base": before.bits_per_character}})
    report = AdaptReport(
        base=config.base, revision=config.revision, corpus=str(corpus), model=str(model_dir),
        extension=None if extension is None else _extension_summary(extension), steps=steps, lr=lr,
        tokens_per_second=throughput[0], rows_per_second=throughput[1], before=before, after=after,
        minutes=(time.perf_counter() - started) / 60,
        config={k: str(v) if isinstance(v, Path) else [str(p) for p in v] if isinstance(v, tuple) else v
                for k, v in asdict(config).items()},
    )
    (out / REPORT).write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    record_output(out)
    return report


# -- stages ---------------------------------------------------------------------------------------
def _corpus(config: AdaptConfig) -> Path:
    if (config.input / MANIFEST).is_file():
        log.info("[1/5] corpus: %s is a corpus folder, used as it is", config.input)
        return config.input
    directory = config.out / "corpus"
    if (directory / MANIFEST).is_file():  # written last: a build killed half-way is resumed, not reused
        options = read_manifest(directory).get("options", {})
        if options.get("dev_fraction") == config.dev_fraction:
            log.info("[1/5] corpus: %s exists, reused", directory)
            return directory
    log.info("[1/5] corpus: building %s from %s (%.0f%% of the documents held out for dev)", directory, config.input,
             100 * config.dev_fraction)
    # Domain text (case notes, reports, tables) often ends without 。: the web-text filter is off.
    build_corpus(BuildConfig(out=directory, inputs=(config.input,), dev_fraction=config.dev_fraction, overwrite=True,
                             clean=CleanConfig(skip_rules=("terminal_punctuation",))))
    return directory


def _tokenizer(config: AdaptConfig, base_dir: Path, base: JaTokenizer, corpus: Path,
               dev: list[str]) -> tuple[Path, ExtendReport | None]:
    if not config.extend:
        log.info("[2/5] tokenizer: the base's own (--no-extend)")
        return base_dir, None
    add = config.add or DEFAULT_ADD
    log.info("[2/5] tokenizer: extending %s (%s, %d entries) with %s domain entries from %s", config.base, base.tokenizer_kind,
             base.vocab_size, add if config.add else f"up to {add:,}", corpus)
    extended, report = extend_tokenizer(
        base, training_sentences([corpus]), add, user_dicts=config.user_dict if base.tokenizer_kind == "mecab-wordpiece" else (),
        dev_sentences=dev, base_name=config.base, corpus_name=str(corpus),
        min_count=None if config.add else DEFAULT_MIN_COUNT, at_most=config.add is None, workers=config.workers)
    directory = save_extended(extended, report, config.out / "tokenizer")
    for line in report.lines()[:2]:
        log.info("      %s", line)
    if report.available is not None and report.available < add:
        log.info("      the corpus gives %d entries seen at least %d times, fewer than the default's %d: all taken",
                 report.available, report.min_count, add)
    return directory, report


def _pretrain(config: AdaptConfig, base_dir: Path, shards: Path) -> tuple[Path, int, float, tuple[float, float]]:
    run_dir, model_dir = config.out / "run", config.out / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)  # adapt's own: a run always starts from the base

    def planned(steps: int, lr: float | None = None):
        return plan_pretraining(PretrainConfig(
            shards=shards, out=run_dir, steps=steps, init_from=base_dir, micro_batch=config.micro_batch,
            mask_rate=config.mask_rate, seed=config.seed, lr=lr, warmup_steps=max(1, round(steps * WARMUP_SHARE)),
            eval_every=max(1, steps // 5), save_every=max(1, steps // 5), log_every=10, device=config.device,
            overwrite=True))

    plan = planned(config.steps)
    steps = config.steps
    if config.minutes:
        shape = AutoConfig.from_pretrained(base_dir, vocab_size=plan.header.vocab_size)
        steps = steps_for_budget(AutoModelForMaskedLM.from_config(shape), plan, config.minutes,
                                 micro_batch=config.micro_batch, mask_rate=plan.recipe.masking.rate
                                 if config.mask_rate is None else config.mask_rate, limits=STEP_LIMITS)
    lr = config.lr or plan.recipe.lr * LR_SHARE
    log.info("[4/5] continued pretraining from %s: %s recipe at lr %g, %d steps of %d rows", config.base,
             plan.family.recipe, lr, steps, config.micro_batch)
    result = pretrain(planned(steps, lr))
    shutil.move(result.model_dir, model_dir)
    return model_dir, result.steps, lr, _throughput(run_dir, config.micro_batch)


def _throughput(run_dir: Path, micro_batch: int) -> tuple[float, float]:
    """(tokens, rows) per second of training, from the run's last train line."""
    last = None
    with open(run_dir / "log.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("kind") == "train":
                last = record
    if not last or not last.get("elapsed"):
        return 0.0, 0.0
    return last["tokens"] / last["elapsed"], last["step"] * micro_batch / last["elapsed"]


def _side(model_dir: Path, corpus: Path, dev: list[str], config: AdaptConfig) -> Side:
    lm = load(model_dir, device=resolve_device(config.device), user_dicts=list(config.user_dict) or None)
    yardstick: CharacterLossReport = corpus_bits_per_character(lm, corpus, split="dev", rate=YARDSTICK_RATE)
    pieces = sum(map(len, lm.tokenizer.encode_ids_batch(dev)))
    characters = sum(map(len, dev))
    n_words = sum(len(words(sentence)) for sentence in dev)
    return Side(model=str(model_dir), bits_per_character=yardstick.bits_per_character,
                standard_error=yardstick.standard_error, interval=yardstick.interval,
                bits_per_word=yardstick.bits / yardstick.masked_words,
                pieces_per_character=pieces / characters, pieces_per_word=pieces / n_words,
                vocab_size=lm.tokenizer.vocab_size, yardstick=yardstick.to_dict())


def _extension_summary(report: ExtendReport) -> dict:
    return {"asked": report.asked, "added": report.added, "available": report.available, "min_count": report.min_count,
            "base_vocab_size": report.base_vocab_size, "vocab_size": report.vocab_size,
            "pieces_per_char_before": report.pieces_per_char_before, "pieces_per_char_after": report.pieces_per_char_after,
            "words": report.words[:10]}


def summary(report: AdaptReport) -> str:
    """The report for a terminal (what `jaroberta adapt` prints)."""
    extension = report.extension
    added = (f"{extension['added']:,} entries added (asked {extension['asked']:,}"
             + (f", the corpus gives {extension['available']:,} seen at least {extension['min_count']} times)"
                if extension["available"] is not None else ")")) if extension else "no entries added (--no-extend)"
    return "\n".join([
        f"adapt: {report.base} -> {report.model} in {report.minutes:.1f} minutes",
        f"  vocabulary  {added}",
        f"  pretraining {report.steps} steps at lr {report.lr:g}, {report.tokens_per_second:,.0f} tokens/s",
        f"  domain dev  masked-LM bits per character (whole words, {100 * YARDSTICK_RATE:.0f}%), lower is better:",
        *("    " + line for line in report.table().splitlines()),
        f"  report      {Path(report.model).parent / REPORT}",
    ])
