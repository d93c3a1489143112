"""Model cards (`README.md`) for every model folder jaroberta writes.

The metadata block is huggingface_hub's `ModelCardData` (language, license,
pipeline_tag, library_name, model-index with `EvalResult`s); the body is built
from plain facts read from the folder (config.json, jaroberta_meta.json, the conventions,
the tokenizer sidecar) and from what the caller knows (corpus.json, results, notes).
A reader learns what the seed models' cards say: architecture and size, tokenizer and
input conventions, corpus and licenses, the recipe, results, usage, and limitations.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from jaroberta.model.conventions import CONVENTIONS_FILE

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
META_FILE = "jaroberta_meta.json"
SIDECAR_FILE = "jaroberta_tokenizer.json"
CORPUS_FILE = "corpus.json"
REPORT_FILE = "report.json"

_PIPELINES = {
    "ForMaskedLM": "fill-mask",
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
    "ForMultipleChoice": "multiple-choice",
}
_PERPLEXITY_KEYS = ("dev_rows_perplexity",)
_SPDX = {
    "apache-2.0": "Apache-2.0", "mit": "MIT", "expat": "MIT", "isc": "ISC", "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause", "mpl-2.0": "MPL-2.0", "cc0-1.0": "CC0-1.0", "cc-by-4.0": "CC-BY-4.0",
    "cc-by-sa-3.0": "CC-BY-SA-3.0", "cc-by-sa-4.0": "CC-BY-SA-4.0", "cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0",
    "gpl-2": "GPL-2.0-only", "gpl-2.0": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later", "gpl-2.0+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only", "gpl-3.0": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later", "gpl-3.0+": "GPL-3.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later", "lgpl-3": "LGPL-3.0-only", "lgpl-3.0": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later", "lgpl-3.0+": "LGPL-3.0-or-later", "agpl-3": "AGPL-3.0-only", "agpl-3.0": "AGPL-3.0-only",
    "agpl-3+": "AGPL-3.0-or-later", "agpl-3.0+": "AGPL-3.0-or-later",
}
"""Corpus-source licenses, in Debian's DEP-5 short names or SPDX's, -> SPDX ids ("GPL-2+" -> GPL-2.0-or-later)."""
_HUB_LICENSES = {
    "Apache-2.0": "apache-2.0", "MIT": "mit", "ISC": "isc", "BSD-2-Clause": "bsd-2-clause", "BSD-3-Clause": "bsd-3-clause",
    "MPL-2.0": "mpl-2.0", "CC0-1.0": "cc0-1.0", "CC-BY-4.0": "cc-by-4.0", "CC-BY-SA-3.0": "cc-by-sa-3.0",
    "CC-BY-SA-4.0": "cc-by-sa-4.0", "CC-BY-NC-SA-4.0": "cc-by-nc-sa-4.0", "GPL-2.0-only": "gpl-2.0",
    "GPL-3.0-only": "gpl-3.0", "LGPL-2.1-only": "lgpl-2.1", "LGPL-3.0-only": "lgpl-3.0", "AGPL-3.0-only": "agpl-3.0",
}
"""SPDX ids that are exactly one of the hub's license ids; anything else is `other` with a name and a link."""


@dataclass
class CardFacts:
    """Everything a card says, as plain data."""

    name: str
    architecture: str
    config: dict
    parameters: int | None = None
    tokenizer_kind: str = ""
    """'sentencepiece' or 'mecab-wordpiece'."""
    conventions: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    """jaroberta_meta.json: step, tokens, metrics, recipe, loop settings, versions."""
    license: str | None = None
    """A hub license id (or an SPDX expression) given by the caller; None = from the corpus sources."""
    license_name: str | None = None
    """With license 'other': its name (e.g. carried over from the card of the model exported)."""
    license_link: str | None = None
    """With license 'other': where its text is."""
    corpus: dict = field(default_factory=dict)
    """corpus.json of the training corpus, when the run knows it."""
    cleaning: dict = field(default_factory=dict)
    """report.json totals of the corpus cleaning, when known."""
    results: dict = field(default_factory=dict)
    """Fine-tuning results (results.json), when known."""
    source: str | None = None
    """The model this folder was exported from."""
    source_commit: str | None = None
    """The hub commit of `source`, where it came from the hub."""
    notes: list[str] = field(default_factory=list)
    """What plain transformers does not reproduce exactly."""
    has_loss_plot: bool = False
    dictionaries: list[str] = field(default_factory=list)

    @property
    def pipeline_tag(self) -> str:
        return next((tag for suffix, tag in _PIPELINES.items() if self.architecture.endswith(suffix)), "feature-extraction")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def facts_from_folder(directory: Path, **known) -> CardFacts:
    """The facts a model folder states about itself, plus what the caller knows."""
    directory = Path(directory)
    _copy_loss_curve(directory)
    config = _read(directory / "config.json")
    meta = _read(directory / META_FILE)
    sidecar = _read(directory / SIDECAR_FILE)
    task = meta.get("task") or {}
    parameters = (task.get("model") or {}).get("parameters") if isinstance(task, dict) else None
    corpus = known.pop("corpus", None) or _corpus_of(meta)
    return CardFacts(
        name=known.pop("name", None) or _name(directory),
        architecture=(config.get("architectures") or ["?"])[0],
        config=config,
        parameters=known.pop("parameters", None) or parameters,
        tokenizer_kind=sidecar.get("tokenizer_kind", sidecar.get("family", "")),  # older sidecars: "family"
        conventions=_read(directory / CONVENTIONS_FILE),
        meta=meta,
        corpus=corpus.get("corpus", {}) if corpus else {},
        cleaning=corpus.get("cleaning", {}) if corpus else {},
        dictionaries=[d.get("name", "") for d in sidecar.get("dictionaries", [])],
        has_loss_plot=(directory / "loss.png").exists(),
        **known,
    )


def _name(directory: Path) -> str:
    """The folder's name; for a run's model/ or best/, the run's."""
    folder = directory.resolve()
    return f"{folder.parent.name}-{folder.name}" if folder.name in ("model", "best") else folder.name


def _copy_loss_curve(directory: Path) -> None:
    """The run's loss.png (one folder up from model/ and best/) travels with the model."""
    curve = directory.parent / "loss.png"
    if curve.is_file() and not (directory / "loss.png").exists():
        shutil.copyfile(curve, directory / "loss.png")


def _corpus_of(meta: dict) -> dict:
    """corpus.json (+ report.json) of the run's corpus, if the run recorded where it was."""
    shards = (meta.get("task") or {}).get("shards") if isinstance(meta.get("task"), dict) else None
    shards = shards or meta.get("shards")
    if not shards:
        return {}
    header = _read(Path(shards) / "shards.json")
    corpus_dir = header.get("corpus")
    if not corpus_dir:
        return {}
    return {"corpus": _read(Path(corpus_dir) / CORPUS_FILE), "cleaning": _read(Path(corpus_dir) / REPORT_FILE)}


# -- metadata -------------------------------------------------------------------------------
def _licenses(facts: CardFacts) -> list[str]:
    """The corpus sources' licenses, where recorded."""
    sources = facts.corpus.get("sources") or []
    found = {s.get("license") for s in sources if isinstance(s, dict) and s.get("license")}
    return sorted(lic for lic in found if not lic.startswith("not recorded"))


def spdx_id(license: str) -> str:
    """One source license as an SPDX id: known names mapped, others as a LicenseRef."""
    key = license.strip().lower()
    known = _SPDX.get(key) or next((spdx for spdx in _SPDX.values() if spdx.lower() == key), None)
    if known:
        return known
    return "LicenseRef-" + (re.sub(r"[^A-Za-z0-9.]+", "-", license).strip("-") or "unknown")


def spdx_expression(licenses: list[str]) -> str:
    """The SPDX expression of text under all `licenses`: their ids, deduplicated, joined by AND."""
    return " AND ".join(sorted({spdx_id(lic) for lic in licenses}))


def _license(facts: CardFacts) -> tuple[str, str | None, str | None]:
    """(hub license, license_name, license_link): the caller's, else the corpus sources' SPDX
    expression: a hub id where it is exactly one, else 'other' named by the expression."""
    if facts.license:
        if facts.license in _HUB_LICENSES.values() or facts.license == "other":
            return facts.license, facts.license_name, facts.license_link
        expression = facts.license
    else:
        licenses = _licenses(facts)
        if not licenses:
            return "other", facts.license_name, facts.license_link
        expression = spdx_expression(licenses)
    if expression in _HUB_LICENSES:
        return _HUB_LICENSES[expression], None, None
    ids = expression.split(" AND ")
    link = f"https://spdx.org/licenses/{ids[0]}.html" if len(ids) == 1 and not ids[0].startswith("LicenseRef-") else None
    return "other", re.sub(r"[^a-z0-9.]+", "-", expression.lower()).strip("-"), link


def card_data(facts: CardFacts) -> ModelCardData:
    license, license_name, license_link = _license(facts)
    return ModelCardData(
        language="ja",
        license=license,
        license_name=license_name,
        license_link=license_link,
        library_name="transformers",
        pipeline_tag=facts.pipeline_tag,
        tags=["jaroberta", "japanese", facts.tokenizer_kind or "roberta"],
        model_name=facts.name,
        eval_results=_eval_results(facts) or None,
        base_model=_hub_id(facts.source) or _hub_id(_extension(facts).get("base_model")),
    )


def _hub_id(name: str | None) -> str | None:
    """`name` when it is a hub id (owner/name, not a folder here), else None."""
    return name if name and "/" in name and not Path(name).exists() else None


def _extension(facts: CardFacts) -> dict:
    """How the model was grown to an extended vocabulary (`model/grow.py`), if it was."""
    extension = facts.meta.get("vocabulary_extension")
    return extension if isinstance(extension, dict) else {}


def _vocabulary_extension(facts: CardFacts) -> list[str]:
    extension = _extension(facts)
    revision = f" at revision `{extension['revision']}`" if extension.get("revision") else ""
    return [f"- base model: `{extension.get('base_model')}`{revision}",
            f"- base vocabulary: {extension.get('base_vocab_size', '?')} entries, kept with their ids",
            f"- entries added for the domain: {extension.get('added', '?')}, appended after the base's",
            f"- new rows (input embeddings, tied output layer, output bias) initialised as the {extension.get('init', '?')}",
            f"- base tokenizer fingerprint: {str(extension.get('base_tokenizer_fingerprint', ''))[:12]}"]


def _eval_results(facts: CardFacts) -> list[EvalResult]:
    out = []
    metrics = facts.meta.get("metrics") or {}
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or key.endswith("_masked"):
            continue
        metric = "perplexity" if key in _PERPLEXITY_KEYS else key.removeprefix("dev_")
        out.append(EvalResult(task_type=facts.pipeline_tag, dataset_type="dev", dataset_name="dev split",
                              dataset_split="dev", metric_type=metric, metric_name=key, metric_value=float(value)))
    for split in ("test",):
        for key, value in ((facts.results or {}).get(split) or {}).items():
            if isinstance(value, (int, float)):
                out.append(EvalResult(task_type=facts.pipeline_tag, dataset_type=split, dataset_name=f"{split} split",
                                      dataset_split=split, metric_type=key, metric_name=f"{split}_{key}", metric_value=float(value)))
    return out


# -- body -----------------------------------------------------------------------------------
def _architecture(facts: CardFacts) -> list[str]:
    c = facts.config
    lines = [f"- class: `{facts.architecture}` (`model_type` {c.get('model_type')})",
             (f"- {c.get('num_hidden_layers')} layers, hidden {c.get('hidden_size')}, {c.get('num_attention_heads')} heads, "
              f"feed-forward {c.get('intermediate_size')}, vocabulary {c.get('vocab_size')}, "
              f"{c.get('max_position_embeddings')} position rows")]
    if facts.parameters:
        lines.append(f"- parameters: {facts.parameters:,}")
    return lines


def _conventions(facts: CardFacts) -> list[str]:
    conv = facts.conventions
    if not conv:
        return ["- not recorded"]
    norm = conv.get("normalization") or {}
    steps = [k for k, on in norm.items() if on] or ["none"]
    positions = ("passed explicitly, from " + str(conv.get("position_start", 0)) if conv.get("explicit_position_ids")
                 else "transformers' default (derived from the input ids)")
    lines = [f"- tokenizer kind: {facts.tokenizer_kind or 'unknown'}",
             f"- normalization before tokenization: {' + '.join(steps)}",
             f"- framing: {' '.join(conv.get('prefix', []))} pieces {' '.join(conv.get('suffix', []))}".rstrip(),
             f"- `{conv.get('mask_token', '[MASK]')}` is put in after tokenization (the text is split there)",
             f"- position ids: {positions}",
             f"- longest input: {conv.get('max_length')} tokens, special tokens included"]
    if facts.dictionaries:
        lines.append(f"- MeCab user dictionaries (in this folder): {', '.join(facts.dictionaries)}")
    return lines


def _corpus(facts: CardFacts) -> list[str]:
    if not facts.corpus:
        if facts.source:
            return [f"Not recorded in this folder; see the card of `{facts.source}`."]
        return ["Not recorded with this model (the run did not know its corpus folder)."]
    lines = []
    for split, counts in (facts.corpus.get("splits") or {}).items():
        sizes = ", ".join(f"{counts[k]:,} {k}" for k in ("documents", "sentences", "characters") if k in counts)
        lines.append(f"- {split}: {sizes}")
    for source in facts.corpus.get("sources") or []:
        if isinstance(source, dict):
            version = f" {source['version']}" if source.get("version") else ""
            origin = f" ({source['origin']})" if source.get("origin") else ""
            lines.append(f"- source `{source.get('name')}`{version}{origin}: license {source.get('license', 'unknown')}")
    licenses = _licenses(facts)
    if licenses:
        lines.append(f"- licenses of the text, as an SPDX expression: `{spdx_expression(licenses)}`")
    for rule, counters in (facts.cleaning.get("rules") or {}).items():
        dropped = ", ".join(f"{v:,} {k}" for k, v in counters.items() if isinstance(v, int) and v)
        if dropped:
            lines.append(f"- cleaning, {rule} ({counters.get('what', '')}): {dropped}")
    return lines


_RUN_ONLY = {"out", "progress", "resume", "log_every", "keep_checkpoints", "save_every", "device"}
"""Loop settings that change where and how a run reports, not what it trains."""


def _flat(prefix: str, value) -> list[tuple[str, str]]:
    """Nested settings as (dotted key, value) rows."""
    if isinstance(value, dict):
        return [row for key, inner in value.items() for row in _flat(f"{prefix}.{key}" if prefix else str(key), inner)]
    return [(prefix, json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (list, tuple)) else str(value))]


def _recipe(facts: CardFacts) -> list[str]:
    meta = facts.meta
    rows = [(label, str(meta[key])) for key, label in
            (("step", "optimizer steps"), ("tokens", "tokens seen"), ("precision", "precision"), ("world_size", "processes"))
            if key in meta]
    if meta.get("elapsed") is not None:
        rows.append(("wall time", f"{meta['elapsed']:,.0f} s"))
    if meta.get("hardware"):
        rows.append(("hardware", meta["hardware"]))
    rows += _flat("", {k: v for k, v in (meta.get("loop") or {}).items() if k not in _RUN_ONLY and k not in meta})
    rows += _flat("recipe", meta.get("recipe") or {})
    task = meta.get("task")
    if isinstance(task, dict):  # the task's own settings, e.g. mlm.preset, mlm.micro_batch
        rows += _flat(str(task.get("task", "task")), {k: v for k, v in task.items() if k not in ("task", "model", "masking")})
    if meta.get("versions"):
        rows.append(("software", ", ".join(f"{k} {v}" for k, v in meta["versions"].items())))
    if not rows:
        return [f"Not recorded in this folder; see the card of `{facts.source}`." if facts.source else "Not recorded with this model."]
    return ["| setting | value |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows)]


def _results(facts: CardFacts) -> list[str]:
    lines = []
    for key, value in (facts.meta.get("metrics") or {}).items():
        lines.append(f"- {key}: {value:.4f}" if isinstance(value, float) else f"- {key}: {value}")
    for split in ("dev", "test"):
        for key, value in ((facts.results or {}).get(split) or {}).items():
            if isinstance(value, (int, float)):
                lines.append(f"- {split} {key}: {value:.4f}")
    if facts.has_loss_plot:
        lines.append("\n![loss curve](loss.png)")
    return lines or ["- no evaluation recorded"]


def _usage(facts: CardFacts) -> str:
    if facts.pipeline_tag != "fill-mask":
        return f"""```bash
jaroberta predict PATH "テキスト" --json
```

```python
import jaroberta

print(jaroberta.predict("PATH", "テキスト")[0].to_dict())
```

Plain transformers loads the weights with `AutoModelFor{facts.architecture.split("For")[-1]}.from_pretrained("PATH")`;
frame the input as in "Tokenizer and input conventions" above."""
    example = "東京は日本の[MASK]である。" if facts.tokenizer_kind != "mecab-wordpiece" else "この患者は[MASK]と診断された。"
    ours = f"""```python
import jaroberta

model = jaroberta.load("PATH_OR_HUB_ID")  # this folder, or its hub id (revision="...")
print(model.fill_mask("{example}", top_k=5)[0].to_dict())
```

```bash
jaroberta fill-mask PATH_OR_HUB_ID "{example}" --top-k 5
```"""
    return f"With jaroberta:\n\n{ours}\n\nWith plain transformers:\n\n{_plain_usage(facts, example)}"


def _plain_usage(facts: CardFacts, example: str) -> str:
    conv = facts.conventions
    if facts.tokenizer_kind == "sentencepiece" and not conv.get("explicit_position_ids", True):
        return f"""```python
from transformers import pipeline

fill = pipeline("fill-mask", "PATH_OR_HUB_ID")  # tokenizer.json: [CLS] + pieces, lower-casing, <unk> = 0
print(fill("{example}"))  # positions: transformers' default ones, as trained
```"""
    if facts.tokenizer_kind == "sentencepiece":
        return f"""```python
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

tok = AutoTokenizer.from_pretrained("PATH_OR_HUB_ID")  # tokenizer.json: [CLS] + pieces, lower-casing, <unk> = 0
model = AutoModelForMaskedLM.from_pretrained("PATH_OR_HUB_ID")
enc = tok("{example}", return_tensors="pt")
positions = torch.arange(enc.input_ids.shape[1]).unsqueeze(0)  # trained from 0, not from padding_idx + 1
logits = model(**enc, position_ids=positions).logits
```
The fill-mask pipeline cannot pass position ids: `jaroberta export` writes a folder where it needs none."""
    if facts.dictionaries:
        d = facts.dictionaries[0]
        return f"""```python
import shlex

from transformers import AutoModelForMaskedLM, AutoTokenizer

path = "PATH"  # this folder on your machine: tokenizer_config.json names the dictionary by absolute path
tok = AutoTokenizer.from_pretrained(path, mecab_kwargs={{"mecab_dic": "ipadic", "mecab_option": "-u " + shlex.quote(f"{{path}}/{d}"), "normalize_text": False}})
model = AutoModelForMaskedLM.from_pretrained(path)
```
BertJapaneseTokenizer does not convert text to full width: convert it first (jaroberta does)."""
    return """```python
from transformers import AutoModelForMaskedLM, AutoTokenizer

tok = AutoTokenizer.from_pretrained("PATH")
model = AutoModelForMaskedLM.from_pretrained("PATH")
```"""


def _limitations(facts: CardFacts) -> list[str]:
    lines = [f"- {note}" for note in facts.notes]
    lines.append("- A masked language model predicts likely words, not true ones; it reproduces the biases of its corpus.")
    if facts.meta.get("tokens") is not None and facts.meta.get("tokens", 0) < 1e9:
        lines.append("- Trained on little text: useful for testing the pipeline, not as a general Japanese model.")
    return lines


def _from(facts: CardFacts) -> str:
    if not facts.source:
        return "."
    return f" from `{facts.source}`" + (f" at commit `{facts.source_commit}`." if facts.source_commit else ".")


def build_card(facts: CardFacts) -> ModelCard:
    """The card of `facts`: ModelCardData metadata + the sections below."""
    sections = [
        f"# {facts.name}",
        "A Japanese RoBERTa-style model written by jaroberta" + _from(facts),
        "## Model\n\n" + "\n".join(_architecture(facts)),
        "## Tokenizer and input conventions\n\n" + "\n".join(_conventions(facts)),
        "## Training data\n\n" + "\n".join(_corpus(facts)),
        *(["## Vocabulary extension\n\n" + "\n".join(_vocabulary_extension(facts))] if _extension(facts) else []),
        "## Training procedure\n\n" + "\n".join(_recipe(facts)),
        "## Results\n\n" + "\n".join(_results(facts)),
        "## How to use\n\n" + _usage(facts),
        "## Limitations\n\n" + "\n".join(_limitations(facts)),
    ]
    content = f"---\n{card_data(facts).to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n"
    return ModelCard(content)


def write_card(directory: str | Path, **known) -> Path:
    """Write `README.md` into a model folder from what it states and what the caller knows."""
    directory = Path(directory)
    card = build_card(facts_from_folder(directory, **known))
    path = directory / CARD_FILE
    card.save(path)
    return path
