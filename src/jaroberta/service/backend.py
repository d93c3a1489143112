"""What the service asks of a model, and the implementation over a loaded checkpoint.

The app only talks to a `Backend`: tests give it a fake one, `jaroberta serve` gives it
`ModelBackend`. Every method is synchronous and is called from ONE worker thread (the
MeCab tagger and the model are not shared between threads), and every method answers
plain JSON-ready dicts shaped like `jaroberta.service.schemas`. The batched methods may put
an exception in place of one text's result (a text the model cannot take): only that
text's request fails, the rest of the batch is answered from the same forward pass.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol, Sequence

from jaroberta.errors import JarobertaError
from jaroberta.infer.embeddings import embed
from jaroberta.infer.fill_mask import MAX_MASKS, fill_mask, normalize_around_masks
from jaroberta.infer.scoring import pseudo_log_likelihood
from jaroberta.model.loading import load, resolve_conventions


class Backend(Protocol):
    """A model the service can ask."""

    mask_token: str
    """The mask as users type it in text, e.g. '[MASK]'."""

    def info(self) -> dict: ...

    def tokenize(self, text: str) -> dict: ...

    def fill_mask(self, texts: list[str], top_k: int, truncate: bool = False) -> list[dict]: ...

    def score(self, texts: list[str], truncate: bool = False) -> list[dict]: ...

    def count_pieces(self, texts: list[str]) -> int:
        """How many pieces `score` would score (the cost of a score request)."""
        ...

    def embed(self, texts: list[str], pooling: str, normalize: bool, truncate: bool = False) -> list[list[float]]: ...


class ModelBackend:
    """A `Backend` over a `jaroberta.model.loading.LoadedModel`."""

    def __init__(self, lm) -> None:
        self.lm = lm
        self.mask_token = lm.conventions.mask_token

    def info(self) -> dict:
        config = self.lm.model.config
        model = {
            "path": str(self.lm.path),
            "tokenizer_kind": self.lm.tokenizer.tokenizer_kind,
            "architecture": type(self.lm.model).__name__,
            "layers": getattr(config, "num_hidden_layers", None),
            "hidden_size": getattr(config, "hidden_size", None),
            "vocab_size": self.lm.tokenizer.vocab_size,
            "parameters": sum(p.numel() for p in self.lm.model.parameters()),
        }
        return {
            "model": model,
            "conventions": self.lm.conventions.to_dict(),
            "normalization": self.lm.tokenizer.normalization.describe(),
            "mask_token": self.mask_token,
        }

    def tokenize(self, text: str) -> dict:
        tokenizer, conventions = self.lm.tokenizer, self.lm.conventions
        encoding = tokenizer.encode(text)
        framed = self.lm.frame(encoding.ids)
        n_prefix = len(conventions.prefix)
        # Framing only adds special tokens around the pieces, so piece i sits at n_prefix + i.
        offsets = [None] * n_prefix + [tuple(o) for o in encoding.offsets]
        offsets += [None] * (len(framed) - len(offsets))
        mask_id = tokenizer.token_to_id(self.mask_token)  # None for a vocabulary without one: no chip is a mask
        tokens = [
            {
                "token": tokenizer.id_to_token(idx),
                "id": idx,
                "offset": offsets[i],
                "special": offsets[i] is None,
                "mask": idx == mask_id,
            }
            for i, idx in enumerate(framed)
        ]
        return {
            "text": text,
            "normalized": normalize_around_masks(text, tokenizer.normalization, self.mask_token),
            "normalization": tokenizer.normalization.describe(),
            "tokens": tokens,
            "mask_indices": [i for i, t in enumerate(tokens) if t["mask"]],
            "unknown": encoding.unknown,
        }

    def fill_mask(self, texts: list[str], top_k: int, truncate: bool = False) -> list[dict]:
        def run(fit: list[str]) -> list:
            # The server's own mask limit was checked per request; the library's must not refuse more.
            max_masks = max([MAX_MASKS] + [text.count(self.mask_token) for text in fit])
            return [r.to_dict() for r in fill_mask(self.lm, fit, top_k=top_k, batch_size=len(fit), truncate=truncate, max_masks=max_masks)]

        return self._without_unfit(texts, run, truncate=truncate, masks=True)

    def score(self, texts: list[str], truncate: bool = False) -> list[dict]:
        def run(fit: list[str]) -> list:
            scores = [s.to_dict() for s in pseudo_log_likelihood(self.lm, fit, batch_size=64, truncate=truncate)]
            for score in scores:
                # JSON has no NaN: a text with no pieces has no perplexity.
                if math.isnan(score["pseudo_perplexity"]):
                    score["pseudo_perplexity"] = None
            return scores

        return self._without_unfit(texts, run, truncate=truncate)

    def count_pieces(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self.lm.tokenizer.encode_ids_batch(texts))

    def embed(self, texts: list[str], pooling: str, normalize: bool, truncate: bool = False) -> list[list[float]]:
        def run(fit: list[str]) -> list:
            return embed(self.lm, fit, pooling=pooling, batch_size=len(fit), normalize=normalize, truncate=truncate).tolist()

        return self._without_unfit(texts, run, truncate=truncate)

    def _without_unfit(self, texts: list[str], run, *, truncate: bool, masks: bool = False) -> list:
        """`run` over the texts the model can take; an exception in the slot of each other one.
        Messages speak of the request's fields: API clients have no command-line flags."""
        limit, mask_id = self.lm.conventions.max_pieces, self.lm.mask_id
        refused: dict[int, JarobertaError] = {}
        for i, ids in enumerate(self.lm.tokenizer.encode_ids_batch(texts)):
            if len(ids) > limit and not truncate:
                refused[i] = JarobertaError(
                    f"{len(ids)} pieces, but the model takes at most {limit}: shorten the text, or set "
                    f'"truncate": true in the request to cut it'
                )
            elif masks and mask_id not in ids:
                refused[i] = JarobertaError(f"no {self.mask_token} after tokenization: write {self.mask_token} where a word is missing")
            elif masks and ids[:limit].count(mask_id) < ids.count(mask_id):
                refused[i] = JarobertaError(
                    f"a {self.mask_token} lies beyond the model's {limit} pieces (the text has {len(ids)}): "
                    f"shorten the text before it"
                )
        if not refused:
            return run(texts)
        results = iter(run([t for i, t in enumerate(texts) if i not in refused]) if len(refused) < len(texts) else [])
        return [refused[i] if i in refused else next(results) for i in range(len(texts))]


def load_backend(
    path: str | Path,
    *,
    int8: bool = False,
    user_dicts: Sequence[str | Path] = (),
    conventions: dict[str, str] | None = None,
    device: str = "cpu",
) -> ModelBackend:
    """Load a model folder (ours, rinna's or JMedRoBERTa's layout) for serving on `device`;
    `conventions` are `key=value` overrides of the stored / detected input conventions."""
    resolved = resolve_conventions(path, conventions) if conventions else None
    lm = load(path, conventions=resolved, user_dicts=list(user_dicts) or None, device=device,
              quantize="int8" if int8 else None)
    lm.model.eval()
    return ModelBackend(lm)
