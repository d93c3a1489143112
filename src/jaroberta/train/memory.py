"""Estimate a training step's memory before starting, so a batch that won't fit fails in
a second with advice instead of minutes later with an out-of-memory kill.

The estimate is deliberately simple (and somewhat pessimistic): fp32 weights, gradients
and AdamW's two moments (16 bytes per parameter), plus the activations a transformer
encoder keeps for backward, per layer per token (Korthikanti et al. 2022, "Reducing
Activation Recomputation", without sequence parallelism: 34·h + 5·a·T bytes at 16-bit;
doubled at fp32), plus the embedding output and the MLM head on the masked positions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class MemoryEstimate:
    """Bytes a training step needs on its device, by kind."""

    weights: int
    """Parameters."""
    gradients: int
    """Their gradients."""
    optimizer: int
    """AdamW moments."""
    activations: int
    """Activations kept for backward, one micro-batch."""

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations


def transformer_estimate(model: torch.nn.Module, config, micro_batch: int, seq_len: int, precision: str,
                         predicted_fraction: float = 0.15) -> MemoryEstimate:
    """Memory of one training step of a Hugging Face encoder `config` on (micro_batch, seq_len)."""
    params = sum(p.numel() for p in model.parameters())
    b, t, h, a = micro_batch, seq_len, config.hidden_size, config.num_attention_heads
    width = 2 if precision in ("bf16", "fp16") else 4
    per_layer = b * t * (34 * h + 5 * a * t) * width / 2
    head = b * t * predicted_fraction * (2 * h + 2 * config.vocab_size) * 4  # masked rows, logits kept in fp32
    activations = int(config.num_hidden_layers * per_layer + b * t * h * 4 * 2 + head)
    return MemoryEstimate(weights=4 * params, gradients=4 * params, optimizer=8 * params, activations=activations)


def available_bytes(device: torch.device) -> int | None:
    """Free memory on `device`: CUDA's free bytes, or the OS's available RAM (None if unknown)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def describe(estimate: MemoryEstimate) -> str:
    def gib(n: int) -> str:
        return f"{n / 2**30:.2f} GiB"

    return (f"{gib(estimate.total)} estimated (weights {gib(estimate.weights)}, gradients {gib(estimate.gradients)}, "
            f"AdamW {gib(estimate.optimizer)}, activations {gib(estimate.activations)})")
