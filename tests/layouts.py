"""Tiny checkpoints in the exact on-disk layouts of the two published models.

Tests of loading, fill-mask, scoring, the server and fine-tuning reuse these builders:
the files are the ones a user downloads from the hub (same names, same JSON keys), only
the model is tiny and random and the vocabulary is trained on conftest's sentences.

- `write_rinna_layout`: rinna/japanese-roberta-base: `config.json` (RobertaForMaskedLM,
  pad 3, 514 positions), `spiece.model` (SentencePiece unigram, ids 0-2 `<unk> <s> </s>`,
  control symbols `[PAD] [CLS] [SEP] [MASK]` at 3-6, nmt_nfkc),
  `tokenizer_config.json` + `special_tokens_map.json` as published (T5Tokenizer,
  do_lower_case true), weights as `model.safetensors` or `pytorch_model.bin`.
  `spiece_model=` may point at the real `google_sp.model` (vocab 32000).
- `write_jmed_layout`: alabnii/jmedroberta-base-manbyo-wordpiece: `config.json`
  (BertForMaskedLM), `vocab.txt` (MeCab-IPAdic words + WordPiece `##` pieces),
  `tokenizer_config.json` (BertJapaneseTokenizer, mecab, wordpiece, `mecab_kwargs` with an
  absolute `-u .../MANBYO_201907_Dic-utf8.dic` that does not exist on this machine).
- `build_manbyo_dictionary`: a compiled MeCab user dictionary of a few disease names,
  named like the real Manbyo file, to pass as the user-dictionary override.

Usage in a test module:

    from layouts import rinna_dir  # noqa: F401  (a module-scoped fixture)

    def test_something(rinna_dir): ...
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

MANBYO_FILE = "MANBYO_201907_Dic-utf8.dic"
PUBLISHED_MANBYO_PATH = f"/home/alabnii/manbyo/{MANBYO_FILE}"
"""An absolute path as in the published tokenizer_config.json: it does not exist here."""

# Disease names of the tiny Manbyo stand-in: IPAdic alone splits every one of them.
MEDICAL_WORDS = ["筋萎縮性側索硬化症", "糖尿病性腎症", "統合失調症", "高血圧性心疾患"]

MEDICAL_SENTENCES = [
    "この患者は筋萎縮性側索硬化症と診断された。",
    "糖尿病性腎症の患者は定期的な検査が必要である。",
    "統合失調症の治療には薬物療法が用いられる。",
    "高血圧性心疾患の既往がある患者を診察した。",
    "ALSの患者に呼吸器を装着した。",  # a Latin abbreviation: full-width ＡＬＳ in the vocabulary
]

RINNA_SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]  # ids 3-6 after <unk> <s> </s>

# As published on the hub for rinna/japanese-roberta-base (tokenizer files of transformers 4.x).
RINNA_TOKENIZER_CONFIG = {
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "[PAD]",
    "extra_ids": 0,
    "additional_special_tokens": [],
    "sp_model_kwargs": {},
    "bos_token": "<s>",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
    "do_lower_case": True,
    "special_tokens_map_file": None,
    "tokenizer_class": "T5Tokenizer",
}
RINNA_SPECIAL_TOKENS_MAP = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}

JMED_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0-4, as cl-tohoku BERTs


def jmed_tokenizer_config(mecab_dict_path: str = PUBLISHED_MANBYO_PATH) -> dict:
    """tokenizer_config.json of JMedRoBERTa (BertJapaneseTokenizer over MeCab + WordPiece)."""
    return {
        "tokenizer_class": "BertJapaneseTokenizer",
        "do_lower_case": False,
        "word_tokenizer_type": "mecab",
        "subword_tokenizer_type": "wordpiece",
        "mecab_kwargs": {"mecab_dic": "ipadic", "mecab_option": f"-u {mecab_dict_path}", "normalize_text": False},
        "model_max_length": 512,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }


def _dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# -- tokenizer files --------------------------------------------------------------------
def train_rinna_spiece(directory: Path, sentences: list[str], vocab_size: int = 400) -> Path:
    """A tiny SentencePiece unigram model in rinna's id layout, written as spiece.model."""
    import sentencepiece as spm

    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "spiece"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([s.lower() for s in sentences]),
        model_prefix=str(prefix),
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        control_symbols=",".join(RINNA_SPECIALS),
        character_coverage=1.0,
        minloglevel=2,
    )
    (directory / "spiece.vocab").unlink(missing_ok=True)
    return directory / "spiece.model"


def _ipadic_tagger(user_dict: Path | None = None):
    import fugashi
    import ipadic

    args = ipadic.MECAB_ARGS + (f' -u "{user_dict}"' if user_dict else "")
    return fugashi.GenericTagger(args)


def build_manbyo_dictionary(directory: Path, words: list[str] = MEDICAL_WORDS) -> Path:
    """Compile a tiny MeCab user dictionary (IPAdic CSV format), named like the Manbyo file."""
    import fugashi
    import ipadic

    directory.mkdir(parents=True, exist_ok=True)
    csv = directory / "manbyo.csv"
    # surface,left_id,right_id,cost,pos,pos1,pos2,pos3,ctype,cform,base,reading,pron (1285: 名詞,一般)
    csv.write_text("".join(f"{w},1285,1285,-5000,名詞,一般,*,*,*,*,{w},*,*\n" for w in words), encoding="utf-8")
    out = directory / MANBYO_FILE
    fugashi.build_dictionary(f'mecab-dict-index -d "{ipadic.DICDIR}" -u "{out}" -f utf-8 -t utf-8 "{csv}"')
    return out


def _full_width(text: str) -> str:
    from jaroberta.text.normalize import JMED_NORMALIZATION

    return JMED_NORMALIZATION(text)


def write_jmed_vocab(directory: Path, sentences: list[str]) -> Path:
    """vocab.txt: specials, then the MeCab words (with the medical words whole), then ## pieces."""
    directory.mkdir(parents=True, exist_ok=True)
    tagger = _ipadic_tagger()
    words: dict[str, None] = {}
    for sentence in sentences:
        for word in tagger(_full_width(sentence)):
            words.setdefault(word.surface)
    for word in MEDICAL_WORDS:
        words.setdefault(word)
    chars = sorted({ch for w in words for ch in w})
    vocab = JMED_SPECIALS + list(words) + [c for c in chars if c not in words] + [f"##{c}" for c in chars]
    path = directory / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return path


# -- models ---------------------------------------------------------------------------
def _save_weights(model, directory: Path, weights: str) -> None:
    import torch

    if weights == "safetensors":
        model.save_pretrained(directory)
    elif weights == "bin":
        # As published in 2021: a pickled state dict (loaded with weights_only=True).
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, directory / "pytorch_model.bin")
    else:
        raise ValueError(f"weights must be 'safetensors' or 'bin', got {weights!r}")


def _tiny_sizes(hidden: int, layers: int, heads: int = 2, initializer_range: float = 0.2) -> dict:
    return {
        "hidden_size": hidden,
        "intermediate_size": hidden * 4,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        # 0.2 by default: spread-out random logits, so top-k orders are not near-ties.
        "initializer_range": initializer_range,
    }


def write_rinna_layout(
    directory: Path,
    sentences: list[str],
    *,
    spiece_model: Path | None = None,
    weights: str = "safetensors",
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
    with_head: bool = True,
    initializer_range: float = 0.2,
) -> Path:
    """A tiny random RoBERTa in rinna/japanese-roberta-base's published layout."""
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if spiece_model is None:
        train_rinna_spiece(directory, sentences)
    else:
        shutil.copyfile(spiece_model, directory / "spiece.model")
    import sentencepiece as spm

    vocab_size = spm.SentencePieceProcessor(model_file=str(directory / "spiece.model")).get_piece_size()

    # config.json: the published one (rinna/japanese-roberta-base's), tiny sizes.
    published = {
        "architectures": ["RobertaForMaskedLM" if with_head else "RobertaModel"],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 768,
        "initializer_range": 0.02,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 514,
        "model_type": "roberta",
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 3,
        "tokenizer_class": "T5Tokenizer",
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
    }
    published.update(_tiny_sizes(hidden, layers, heads, initializer_range))
    torch.manual_seed(seed)
    config = RobertaConfig(**{k: v for k, v in published.items() if k not in ("architectures", "model_type")})
    model = (RobertaForMaskedLM if with_head else RobertaModel)(config).eval()
    _save_weights(model, directory, weights)
    _dump(directory / "config.json", published)  # overwrite transformers' own with the published keys
    _dump(directory / "tokenizer_config.json", RINNA_TOKENIZER_CONFIG)
    _dump(directory / "special_tokens_map.json", RINNA_SPECIAL_TOKENS_MAP)
    return directory


def write_jmed_layout(
    directory: Path,
    sentences: list[str],
    *,
    mecab_dict_path: str = PUBLISHED_MANBYO_PATH,
    weights: str = "safetensors",
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """A tiny random BERT in JMedRoBERTa's published layout (MeCab + Manbyo + WordPiece)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    directory = Path(directory)
    vocab = write_jmed_vocab(directory, list(sentences) + MEDICAL_SENTENCES)
    vocab_size = len(vocab.read_text(encoding="utf-8").splitlines())
    published = {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 768,
        "initializer_range": 0.02,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
    }
    published.update(_tiny_sizes(hidden, layers))
    torch.manual_seed(seed)
    config = BertConfig(**{k: v for k, v in published.items() if k not in ("architectures", "model_type")})
    model = BertForMaskedLM(config).eval()
    _save_weights(model, directory, weights)
    _dump(directory / "config.json", published)
    _dump(directory / "tokenizer_config.json", jmed_tokenizer_config(mecab_dict_path))
    _dump(
        directory / "special_tokens_map.json",
        {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"},
    )
    return directory


# -- module-scoped fixtures (import them into a test module) -----------------------------
def _sentences() -> list[str]:
    from conftest import JA_SENTENCES

    return list(JA_SENTENCES)


@pytest.fixture(scope="module")
def rinna_dir(tmp_path_factory) -> Path:
    """Tiny random RoBERTa + tiny SentencePiece, rinna's published layout, safetensors."""
    return write_rinna_layout(tmp_path_factory.mktemp("rinna"), _sentences())


@pytest.fixture(scope="module")
def manbyo_dic(tmp_path_factory) -> Path:
    """A compiled MeCab user dictionary named MANBYO_201907_Dic-utf8.dic."""
    return build_manbyo_dictionary(tmp_path_factory.mktemp("manbyo"))


@pytest.fixture(scope="module")
def jmed_dir(tmp_path_factory) -> Path:
    """Tiny random BERT + MeCab/WordPiece vocab, JMedRoBERTa's published layout (dictionary path absent)."""
    return write_jmed_layout(tmp_path_factory.mktemp("jmed"), _sentences())


@pytest.fixture(scope="module")
def real_rinna_dir(tmp_path_factory, shared_dir) -> Path:
    """The REAL rinna google_sp.model with a tiny random RoBERTa of vocab 32000."""
    spiece = shared_dir / "reference" / "rinna" / "google_sp.model"
    return write_rinna_layout(tmp_path_factory.mktemp("real_rinna"), _sentences(), spiece_model=spiece)
