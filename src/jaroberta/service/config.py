"""What the service allows: batching, queueing and per-request limits, in one typed place."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass

from jaroberta.service.hosts import LOOPBACK_NAMES


@dataclass(frozen=True)
class ServeConfig:
    """Settings of `jaroberta serve`; every limit is checked before the model runs."""

    host: str = "127.0.0.1"
    """Interface to bind; loopback by default so the model is not exposed to the network."""
    port: int = 8000
    """TCP port to listen on (0 picks a free one)."""
    max_batch: int = 32
    """Most texts the batching worker sends to the model in one forward pass."""
    max_wait_ms: float = 5.0
    """How long the worker waits for more requests after the first one before running a batch."""
    adaptive_wait: bool = True
    """Skip the wait while traffic is light (the last batch held one request): a lone
    client then pays no max_wait_ms; under load batches form and the wait applies."""
    queue_size: int = 256
    """Most requests waiting for the model; one more is answered 503 with Retry-After."""
    max_texts: int = 16
    """Most texts in one request (fill-mask, score, embed)."""
    max_chars: int = 1000
    """Longest text accepted, in characters (before tokenization)."""
    max_masks: int = 8
    """Most [MASK] tokens in one text."""
    max_top_k: int = 50
    """Largest top_k a fill-mask request may ask for."""
    max_score_pieces: int = 512
    """Most pieces one score request may ask to score: each is one masked copy of its text
    through the model, so this bounds the work one request can demand."""
    timeout_s: float = 30.0
    """A request still unanswered after this many seconds gets 504."""
    admit_share: float = 0.5
    """Admit a request only while the work queued before it and its own, priced by the time
    recent batches took, fits in this share of timeout_s; else 503 with Retry-After at once.
    The rest of the timeout covers the work admitted later that shares its batch."""
    max_body_bytes: int = 64 * 1024
    """Largest request body; larger bodies get 413 before anything is parsed."""
    read_timeout_s: float = 10.0
    """Most seconds a client may take to send one request, headers and body (counted from its
    first byte, or from connecting); a slower one gets 408 and is disconnected."""
    max_connections: int = 512
    """Most open connections; one more gets 503 to its request and is disconnected."""
    allowed_hosts: tuple[str, ...] = ()
    """Names the service answers to in the Host header (any port; '*': any name). Empty:
    localhost, 127.0.0.1 and [::1] on a loopback bind (a page elsewhere cannot reach the
    service by DNS rebinding), any name on another bind."""
    workers: int = 0
    """Intra-op threads of the model (torch.set_num_threads); 0: one per core but one, left to the event loop."""

    def __post_init__(self) -> None:
        positive = (
            "max_batch", "queue_size", "max_texts", "max_chars", "max_masks", "max_top_k", "max_score_pieces",
            "max_body_bytes", "max_connections",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = automatic), got {self.workers}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if not 0 < self.admit_share <= 1:
            raise ValueError(f"admit_share must be in (0, 1], got {self.admit_share}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.read_timeout_s <= 0:
            raise ValueError(f"read_timeout_s must be > 0, got {self.read_timeout_s}")
        if not isinstance(self.allowed_hosts, tuple) or not all(isinstance(h, str) and h.strip() for h in self.allowed_hosts):
            raise ValueError(f"allowed_hosts must be a tuple of host names, got {self.allowed_hosts!r}")
        if self.max_texts > self.max_batch:
            # A request bigger than a batch would never fit in one forward pass.
            raise ValueError(f"max_texts ({self.max_texts}) must not exceed max_batch ({self.max_batch})")
        if self.max_body_bytes < self.max_chars:
            raise ValueError(f"max_body_bytes ({self.max_body_bytes}) cannot hold one text of max_chars ({self.max_chars})")

    @property
    def is_loopback(self) -> bool:
        """Whether `host` only accepts connections from this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def host_names(self) -> tuple[str, ...]:
        """The names the Host header may give (see `allowed_hosts`)."""
        if self.allowed_hosts:
            return self.allowed_hosts
        return LOOPBACK_NAMES if self.is_loopback else ("*",)

    def torch_threads(self) -> int:
        """The model's intra-op thread count. Automatic: every core but one. The event loop
        (HTTP parsing, JSON) needs a core too, and an OpenMP worker that shares one with it
        spins at every barrier, which slows every forward pass."""
        return self.workers or max(1, (os.cpu_count() or 2) - 1)

    def limits(self) -> dict:
        """The per-request limits, as reported by /api/info."""
        data = asdict(self)
        for name in ("host", "port", "workers"):
            data.pop(name)
        return data
