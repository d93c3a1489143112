"""Printing the inference commands' results (table or JSON)."""

from __future__ import annotations

import json


def print_json_lines(items) -> None:
    for item in items:
        print(json.dumps(item.to_dict(), ensure_ascii=False))


def fill_mask_table(results) -> str:
    """One block per text: its framed tokens, then each mask's candidates with probabilities
    (4 significant digits: a multi-piece target's chain-rule probability can be tiny)."""
    lines = []
    for result in results:
        lines.append(f"# {result.text}")
        lines.append("  tokens: " + " ".join(result.tokens))
        for number, mask in enumerate(result.masks, start=1):
            label = f"mask {number} (token {mask.index})"
            for rank, c in enumerate(mask.candidates, start=1):
                pieces = f"  ({len(c.token_ids)} pieces)" if len(c.token_ids) > 1 else ""
                lines.append(f"  {label:<18} {rank:>2}. {c.token:<16} {c.score:<10.4g}{pieces}".rstrip())
                label = ""
    return "\n".join(lines)


def span_table(text: str, candidates) -> str:
    lines = [f"# {text}"]
    for rank, c in enumerate(candidates, start=1):
        lines.append(f"  {rank:>2}. {c.text:<20} {c.score:.6f}  ({' '.join(c.tokens)})")
    return "\n".join(lines)


def score_table(scores) -> str:
    lines = [f"{'pseudo-ppl':>12} {'pll':>10} {'tokens':>6}  text"]
    for s in scores:
        cut = " (truncated)" if s.truncated else ""
        lines.append(f"{s.pseudo_perplexity:>12.3f} {s.pll:>10.3f} {s.n_tokens:>6}  {s.text}{cut}")
    return "\n".join(lines)
