"""The masked-LM loss, with the prediction head, and most of the last layer, run only at
masked positions.

Hugging Face's `*ForMaskedLM.forward` projects *every* position onto the vocabulary
((B, T, H) x (H, V)) and then ignores 85% of it. With a 32k vocabulary that projection
dominates the cost of small models. We run the encoder, gather the ~15% masked hidden
states, and run the same head module on those only: same parameters, same checkpoint.

The last encoder layer, too, only matters at masked positions: its keys and values need
every position, but its queries, attention output, feed-forward block and LayerNorms are
needed at the masked ones only (`_last_layer_at`), about 5/6 of the layer's work saved,
1/15 of a 12-layer encoder's. This path runs the transformers modules' own weights,
in their own order (embeddings, layers, then the last layer's submodules); it is taken for
RoBERTa and BERT layers with SDPA attention, and the plain forward otherwise. In eval mode
it gives the full forward's loss to float rounding (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.masking_utils import create_bidirectional_mask

from jaroberta.model.masking import IGNORE_INDEX

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
        self.layers = _plain_encoder_layers(self.encoder)
        """The encoder's layers where the last-layer shortcut applies, else None."""

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        attention_mask = None
        if bool((lengths < length).any()):  # no mask at all lets SDPA take its fastest path
            attention_mask = (torch.arange(length, device=input_ids.device) < lengths.unsqueeze(1)).long()
        position_ids = None
        if self.explicit_position_ids:  # rinna: positions from 0, not padding_idx + 1
            position_ids = torch.arange(self.position_start, self.position_start + length, device=input_ids.device).expand(batch, -1)
        chosen = labels != IGNORE_INDEX  # (B, T)
        if self.layers is not None:
            masked_hidden = self._encode_masked(input_ids, attention_mask, position_ids, chosen)  # (M, H)
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state
            masked_hidden = hidden[chosen]
        logits = self.head(masked_hidden)  # (M, V): the head on masked positions only
        return F.cross_entropy(logits.float(), labels[chosen], reduction="sum")

    def _encode_masked(self, input_ids, attention_mask, position_ids, chosen) -> torch.Tensor:
        """The encoder's output at the `chosen` positions, row by row: as `encoder(...)[chosen]`."""
        hidden = self.encoder.embeddings(input_ids=input_ids, position_ids=position_ids)
        layer_mask = create_bidirectional_mask(config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask)
        *layers, last = self.layers
        for layer in layers:
            hidden = layer(hidden, layer_mask)
        keys_mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
        return _last_layer_at(last, hidden, chosen, keys_mask)


def _plain_encoder_layers(encoder: nn.Module) -> nn.ModuleList | None:
    """The layers of a RoBERTa/BERT-style encoder whose last layer `_last_layer_at` can run:
    SDPA attention, an encoder (not a decoder), no chunked feed-forward; else None."""
    config = getattr(encoder, "config", None)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if config is None or not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        return None
    if getattr(config, "_attn_implementation", None) != "sdpa" or config.is_decoder or config.chunk_size_feed_forward:
        return None
    if not hasattr(encoder, "embeddings"):
        return None
    last = layers[-1]
    parts = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
             "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm")
    try:
        for part in parts:
            last.get_submodule(part)
    except AttributeError:
        return None
    return layers


def _last_layer_at(layer: nn.Module, hidden: torch.Tensor, chosen: torch.Tensor, keys_mask: torch.Tensor | None) -> torch.Tensor:
    """`layer(hidden)[chosen]` computing queries, attention output and feed-forward at the
    chosen positions only: (M, H), rows in `hidden[chosen]` order.

    The chosen positions of each row are gathered to the front of a (B, K, H) block (K = the
    most any row has; the rest is filler, dropped at the end), so attention stays one batched
    SDPA call of K queries against all T keys.
    """
    attention = layer.attention.self
    batch, length, width = hidden.shape
    heads, size = attention.num_attention_heads, attention.attention_head_size
    counts = chosen.sum(dim=1)
    most = int(counts.max())
    # Chosen positions first, each row in order (a stable sort of "not chosen").
    positions = torch.sort((~chosen).to(torch.int8), dim=1, stable=True).indices[:, :most]  # (B, K)
    real = torch.arange(most, device=hidden.device) < counts[:, None]  # (B, K)
    picked = hidden.gather(1, positions[..., None].expand(batch, most, width))  # (B, K, H)

    def split_heads(x: torch.Tensor) -> torch.Tensor:
        return x.view(batch, -1, heads, size).transpose(1, 2)

    query = split_heads(attention.query(picked))
    key, value = split_heads(attention.key(hidden)), split_heads(attention.value(hidden))
    context = F.scaled_dot_product_attention(
        query, key, value, attn_mask=keys_mask, dropout_p=attention.dropout.p if attention.training else 0.0,
        scale=attention.scaling,
    )
    context = context.transpose(1, 2).reshape(batch, most, heads * size)
    attended = layer.attention.output(context, picked)  # dense, dropout, LayerNorm(+ residual)
    out = layer.output(layer.intermediate(attended), attended)  # feed-forward, dropout, LayerNorm(+ residual)
    return out[real]


def trim_padding(ids: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor):
    """Drop the columns that are padding in every row (document layout): no work on padding."""
    longest = int(lengths.max())
    return ids[:, :longest], labels[:, :longest]
