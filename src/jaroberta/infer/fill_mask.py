"""Fill-mask the way both model cards ask for it.

The user writes `[MASK]` in the text. The tokenizer splits the text there, tokenizes the
parts and puts the mask *id* in between: the card's "mask inserted after tokenization".
Typing "[MASK]" through a plain SentencePiece tokenizer instead yields `▁` pieces around
it that rinna never saw in training, and transformers' fill-mask pipeline also frames
rinna's input wrongly (no `[CLS]`, a trailing `</s>`, positions from 4).

Each mask is predicted independently from one forward pass (as the pipeline does); for an
answer of several pieces use `fill_span`, which fills consecutive masks left to right.
Candidates are scored with the softmax over the whole vocabulary; special tokens
(`[CLS]`, `<unk>`, `[MASK]`...) are not offered as candidates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from jaroberta.errors import JarobertaError
from jaroberta.model.forward import query_logits, token_log_probs
from jaroberta.model.loading import LoadedModel

MAX_MASKS = 16
"""More masks than this in one text is almost surely a mistake (each is predicted alone)."""

STRATEGIES = ("greedy", "beam")


@dataclass
class Candidate:
    """One proposed filler for a mask."""

    token: str
    """The piece as the vocabulary spells it (e.g. '総会'); for a multi-piece target, the target text."""
    token_id: int
    """Its id; -1 when the candidate spans several pieces (see `token_ids`)."""
    score: float
    """Probability (for a multi-piece target: the product of its pieces' probabilities, left to right)."""
    token_ids: list[int] = field(default_factory=list)
    """All piece ids of the candidate (one for an ordinary candidate)."""

    def to_dict(self) -> dict:
        return {"token": self.token, "token_id": self.token_id, "score": self.score, "token_ids": list(self.token_ids)}


@dataclass
class MaskPrediction:
    """The candidates for one mask."""

    index: int
    """Position of the mask in the framed tokens (`FillMaskResult.tokens`)."""
    candidates: list[Candidate]
    """Best first."""

    def to_dict(self) -> dict:
        return {"index": self.index, "candidates": [c.to_dict() for c in self.candidates]}


@dataclass
class FillMaskResult:
    """Predictions for one text."""

    text: str
    """The text as given."""
    normalized: str
    """The text after the model's normalization (what the tokenizer saw)."""
    tokens: list[str]
    """Framed tokens, special tokens included (rinna: '[CLS]' first)."""
    ids: list[int]
    """Framed ids, exactly as given to the model."""
    masks: list[MaskPrediction]
    """One entry per mask, in text order."""

    def to_dict(self) -> dict:
        # By hand: dataclasses.asdict deep-copies field by field, a millisecond per text
        # that the server pays on every request.
        return {
            "text": self.text,
            "normalized": self.normalized,
            "tokens": list(self.tokens),
            "ids": list(self.ids),
            "masks": [m.to_dict() for m in self.masks],
        }


@dataclass
class SpanCandidate:
    """A multi-piece answer for one mask widened to several consecutive masks."""

    text: str
    """The decoded filler."""
    tokens: list[str]
    """Its pieces."""
    token_ids: list[int]
    """Their ids."""
    score: float
    """Probability of the whole filler (product over pieces, filled left to right)."""
    log_prob: float
    """Natural log of `score`."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Prepared:
    """One text, tokenized and framed, with its mask positions."""

    text: str
    ids: list[int]
    masks: list[int]


# -- preparing texts -------------------------------------------------------------------
def normalize_around_masks(text: str, normalization, mask_token: str) -> str:
    """The text as the tokenizer sees it: normalized between the masks, each mask kept as
    typed (full-width conversion would turn [MASK] into ［ＭＡＳＫ］, lower-casing into [mask])."""
    return mask_token.join(normalization(part) for part in text.split(mask_token))


def _normalized(lm: LoadedModel, text: str) -> str:
    return normalize_around_masks(text, lm.tokenizer.normalization, lm.conventions.mask_token)


def _prepare(lm: LoadedModel, text: str, piece_ids: list[int], where: str, *, truncate: bool, max_masks: int) -> _Prepared:
    """`piece_ids`: the text tokenized (the literal mask already replaced by the mask id)."""
    mask_id = lm.mask_id
    n_masks = piece_ids.count(mask_id)
    if n_masks == 0:
        raise JarobertaError(f"{where}: no {lm.conventions.mask_token} in {_short(text)!r}; write {lm.conventions.mask_token} where a word is missing")
    if n_masks > max_masks:
        raise JarobertaError(
            f"{where}: {n_masks} masks, more than {max_masks}; each mask is predicted on its own, so many masks "
            f"give poor answers. Use fewer masks (or fill_span / --span for one multi-piece answer)"
        )
    pieces = lm.fit(piece_ids, truncate=truncate, where=where)
    if pieces.count(mask_id) < n_masks:
        raise JarobertaError(f"{where}: a {lm.conventions.mask_token} lies beyond the model's {lm.conventions.max_length} tokens; shorten the text")
    framed = lm.frame(pieces)
    masks = [i for i, idx in enumerate(framed) if idx == mask_id and i >= lm.prefix_length][:n_masks]
    return _Prepared(text=text, ids=framed, masks=masks)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _where(i: int, n: int) -> str:
    return f"text {i + 1}" if n > 1 else "text"


def _excluded_ids(lm: LoadedModel) -> list[int]:
    """Ids never offered as candidates: framing tokens and the tokenizer's specials."""
    ids = set(lm.special_ids) | {lm.mask_id} | set(lm.tokenizer.special_ids.values())
    return sorted(i for i in ids if i is not None and 0 <= i < lm.model.config.vocab_size)


# -- fill-mask ---------------------------------------------------------------------------
def fill_mask(
    lm: LoadedModel,
    texts: list[str],
    *,
    top_k: int = 5,
    targets: list[str] | None = None,
    batch_size: int = 32,
    truncate: bool = False,
    max_masks: int = MAX_MASKS,
) -> list[FillMaskResult]:
    """Predict every `[MASK]` of every text: top-k candidates, or the scores of `targets`.

    Texts are batched by length; the MLM head runs only at the masks. A target of several
    pieces is scored by widening its mask to as many masks and filling them left to right
    (chain rule), so e.g. '統合失調症' competes fairly with one-piece answers.
    """
    if isinstance(texts, str):
        texts = [texts]
    if top_k < 1:
        raise JarobertaError(f"top_k must be >= 1, got {top_k}")
    piece_ids = lm.tokenizer.encode_ids_batch(texts)  # one call: the tokenizer batches what it can
    prepared = [
        _prepare(lm, text, ids, _where(i, len(texts)), truncate=truncate, max_masks=max_masks)
        for i, (text, ids) in enumerate(zip(texts, piece_ids))
    ]
    if targets:
        per_text = _score_targets(lm, prepared, targets, batch_size=batch_size)
    else:
        per_text = _top_k(lm, prepared, top_k, batch_size=batch_size)
    return [
        FillMaskResult(
            text=p.text,
            normalized=_normalized(lm, p.text),
            tokens=[lm.tokenizer.id_to_token(i) for i in p.ids],
            ids=p.ids,
            masks=[MaskPrediction(index=m, candidates=c) for m, c in zip(p.masks, cands)],
        )
        for p, cands in zip(prepared, per_text)
    ]


def _top_k(lm: LoadedModel, prepared: list[_Prepared], top_k: int, *, batch_size: int) -> list[list[list[Candidate]]]:
    excluded = torch.tensor(_excluded_ids(lm), dtype=torch.long)
    k = min(top_k, lm.model.config.vocab_size - len(excluded))
    out: list[list[list[Candidate]]] = [[] for _ in prepared]
    sequences = [p.ids for p in prepared]
    queries = [p.masks for p in prepared]
    for i, logits in query_logits(lm, sequences, queries, batch_size=batch_size, what="fill-mask"):
        probs = torch.softmax(logits, dim=-1)  # (n_masks, V)
        probs[:, excluded.to(probs.device)] = -1.0  # never chosen, still counted in the softmax
        scores, ids = probs.topk(k, dim=-1)
        out[i] = [
            [_candidate(lm, int(idx), float(score)) for score, idx in zip(row_scores, row_ids)]
            for row_scores, row_ids in zip(scores.tolist(), ids.tolist())
        ]
    return out


def _candidate(lm: LoadedModel, idx: int, score: float) -> Candidate:
    return Candidate(token=lm.tokenizer.id_to_token(idx), token_id=idx, score=score, token_ids=[idx])


# -- targets -----------------------------------------------------------------------------
def target_pieces(lm: LoadedModel, target: str, *, sentence_start: bool) -> list[int]:
    """Piece ids of a target word as it would be tokenized at the mask's place.

    Mid-sentence, a SentencePiece word carries no `▁`: we encode "[MASK]" + target and drop
    the mask, so the tokenizer's own rule for text after a mask applies. At the start of
    a sentence the target is encoded alone (with its dummy-prefix `▁`).
    """
    mask = lm.conventions.mask_token
    if sentence_start:
        ids = lm.tokenizer.encode(target).ids
    else:
        ids = lm.tokenizer.encode(mask + target).ids[1:]
    if not ids:
        raise JarobertaError(f"target {target!r} tokenizes to nothing; give non-empty targets")
    unk = lm.tokenizer.special_ids.get("unk")
    if unk in ids:
        # Its score would be the unknown token's, not the word's: refuse rather than mislead.
        raise JarobertaError(f"target {target!r} has characters the model's vocabulary lacks (they become the unknown token); drop it")
    return ids


def _score_targets(lm: LoadedModel, prepared: list[_Prepared], targets: list[str], *, batch_size: int) -> list[list[list[Candidate]]]:
    """Every (text, mask, target): the chain-rule probability of the target's pieces."""
    jobs = []  # (text index, mask number, target, pieces)
    for t, p in enumerate(prepared):
        for m, position in enumerate(p.masks):
            for target in targets:
                pieces = target_pieces(lm, target, sentence_start=position == lm.prefix_length)
                jobs.append((t, m, target, pieces))
    log_probs = _chain_log_probs(lm, [(prepared[t].ids, prepared[t].masks[m], pieces) for t, m, _, pieces in jobs], batch_size=batch_size)

    out: list[list[list[Candidate]]] = [[[] for _ in p.masks] for p in prepared]
    for (t, m, target, pieces), lp in zip(jobs, log_probs):
        token = lm.tokenizer.id_to_token(pieces[0]) if len(pieces) == 1 else target
        token_id = pieces[0] if len(pieces) == 1 else -1
        out[t][m].append(Candidate(token=token, token_id=token_id, score=math.exp(lp), token_ids=list(pieces)))
    for per_text in out:
        for cands in per_text:
            cands.sort(key=lambda c: -c.score)
    return out


def _chain_log_probs(lm: LoadedModel, jobs: list[tuple[list[int], int, list[int]]], *, batch_size: int) -> list[float]:
    """log P(pieces | sequence) with the mask at `position` widened to len(pieces) masks,
    filled left to right: sum_j log P(piece_j | pieces before j, masks after)."""
    mask_id = lm.mask_id
    sequences = [ids[:pos] + [mask_id] * len(pieces) + ids[pos + 1 :] for ids, pos, pieces in jobs]
    _check_widened(lm, sequences)
    totals = [0.0] * len(jobs)
    longest = max((len(pieces) for _, _, pieces in jobs), default=0)
    for step in range(longest):
        active = [j for j, (_, _, pieces) in enumerate(jobs) if len(pieces) > step]
        positions = [jobs[j][1] + step for j in active]
        wanted = [jobs[j][2][step] for j in active]
        scored = token_log_probs(lm, [sequences[j] for j in active], positions, wanted, batch_size=batch_size, what="targets")
        for j, pos, piece, lp in zip(active, positions, wanted, scored):
            totals[j] += lp
            sequences[j][pos] = piece  # condition the next piece on this one
    return totals


def _check_widened(lm: LoadedModel, sequences: list[list[int]]) -> None:
    longest = max((len(s) for s in sequences), default=0)
    if longest > lm.conventions.max_length:
        raise JarobertaError(
            f"widening a mask for a multi-piece target makes an input of {longest} tokens, over the model's "
            f"{lm.conventions.max_length}; shorten the text"
        )


# -- multi-piece answers ---------------------------------------------------------------
def fill_span(
    lm: LoadedModel,
    text: str,
    *,
    n_masks: int,
    strategy: str = "greedy",
    beam_size: int = 4,
    top_k: int = 5,
    batch_size: int = 32,
) -> list[SpanCandidate]:
    """Answers of `n_masks` pieces for the single `[MASK]` of `text`, filled left to right.

    greedy: the `top_k` best first pieces, each completed by always taking the best next
    piece. beam: beam search of width `beam_size`; the best `top_k` finished beams.
    """
    if strategy not in STRATEGIES:
        raise JarobertaError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if n_masks < 1 or beam_size < 1 or top_k < 1:
        raise JarobertaError(f"n_masks, beam_size and top_k must be >= 1 (got {n_masks}, {beam_size}, {top_k})")
    prepared = _prepare(lm, text, lm.tokenizer.encode(text).ids, "text", truncate=False, max_masks=MAX_MASKS)
    if len(prepared.masks) != 1:
        raise JarobertaError(f"text: fill_span needs exactly one {lm.conventions.mask_token}, found {len(prepared.masks)}")
    start = prepared.masks[0]
    ids = prepared.ids[:start] + [lm.mask_id] * n_masks + prepared.ids[start + 1 :]
    _check_widened(lm, [ids])
    excluded = torch.tensor(_excluded_ids(lm), dtype=torch.long)

    first_width = top_k if strategy == "greedy" else beam_size
    beams = [(ids, 0.0)]
    for step in range(n_masks):
        width = first_width if step == 0 else (1 if strategy == "greedy" else beam_size)
        beams = _extend(lm, beams, start + step, width, excluded, per_beam=strategy == "greedy" and step > 0, batch_size=batch_size)
    beams.sort(key=lambda b: -b[1])
    return [_span_candidate(lm, seq[start : start + n_masks], lp) for seq, lp in beams[:top_k]]


def _extend(lm, beams, position: int, width: int, excluded: torch.Tensor, *, per_beam: bool, batch_size: int):
    """Fill `position` in every beam: keep the best `width` overall, or per beam (greedy)."""
    expansions = [[] for _ in beams]
    sequences = [seq for seq, _ in beams]
    for b, logits in query_logits(lm, sequences, [[position]] * len(beams), batch_size=batch_size, what="span"):
        log_probs = torch.log_softmax(logits[0], dim=-1)
        log_probs[excluded.to(log_probs.device)] = -math.inf
        scores, ids = log_probs.topk(width)
        seq, base = beams[b]
        expansions[b] = [(seq[:position] + [idx] + seq[position + 1 :], base + s) for s, idx in zip(scores.tolist(), ids.tolist())]
    if per_beam:
        return [e for per in expansions for e in per]
    pooled = sorted((e for per in expansions for e in per), key=lambda e: -e[1])
    return pooled[:width]


def _span_candidate(lm: LoadedModel, piece_ids: list[int], log_prob: float) -> SpanCandidate:
    return SpanCandidate(
        text=lm.tokenizer.decode(piece_ids).strip(),
        tokens=[lm.tokenizer.id_to_token(i) for i in piece_ids],
        token_ids=list(piece_ids),
        score=math.exp(log_prob),
        log_prob=log_prob,
    )
