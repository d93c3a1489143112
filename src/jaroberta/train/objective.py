"""The masked-LM loss, with the prediction head run only at masked positions.

Hugging Face's `*ForMaskedLM.forward` projects *every* position onto the vocabulary
((B, T, H) x (H, V)) and then ignores 85% of it. With a 32k vocabulary that projection
dominates the cost of small models. We run the encoder, gather the ~15% masked hidden
states, and run the same head module on those only: same parameters, same checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jaroberta.train.masking import IGNORE_INDEX

HEAD_ATTRIBUTES = ("lm_head", "cls")
"""Where transformers keeps the MLM head: RobertaForMaskedLM.lm_head, BertForMaskedLM.cls."""


class MaskedLMObjective(torch.nn.Module):
    """Wraps a *ForMaskedLM model; forward returns the *summed* cross-entropy over masked tokens.

    Summed, not averaged: the loop divides by the number of masked tokens in the whole
    global batch, so gradient accumulation and several processes give exactly the
    gradient of one big batch.
    """

    def __init__(self, model: torch.nn.Module, explicit_position_ids: bool, position_start: int = 0):
        super().__init__()
        self.model = model
        self.explicit_position_ids = explicit_position_ids
        self.position_start = position_start
        self.encoder = model.base_model
        self.head = next((getattr(model, a) for a in HEAD_ATTRIBUTES if hasattr(model, a)), None)
        if self.head is None:
            raise ValueError(f"{type(model).__name__} has no MLM head (looked for {HEAD_ATTRIBUTES})")

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        attention_mask = None
        if bool((lengths < length).any()):  # no mask at all lets SDPA take its fastest path
            attention_mask = (torch.arange(length, device=input_ids.device) < lengths.unsqueeze(1)).long()
        position_ids = None
        if self.explicit_position_ids:  # rinna: positions from 0, not padding_idx + 1
            position_ids = torch.arange(self.position_start, self.position_start + length, device=input_ids.device).expand(batch, -1)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state  # (B, T, H)
        chosen = labels != IGNORE_INDEX  # (B, T)
        logits = self.head(hidden[chosen])  # (M, V): the head on masked positions only
        return F.cross_entropy(logits.float(), labels[chosen], reduction="sum")


def trim_padding(ids: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor):
    """Drop the columns that are padding in every row (document layout): no work on padding."""
    longest = int(lengths.max())
    return ids[:, :longest], labels[:, :longest]
