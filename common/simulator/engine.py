"""What the simulator decides for each request, whatever the wire format: the answer text, token
counts, timing, faults and its own quota. Deterministic: the same prompt gives the same answer."""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SIMULATED_KEY = "simulated-key-0000000000"  # a placeholder: a real key has no business reaching a simulator
FAULTS = ("429", "500", "502", "503", "529", "401", "403", "400", "context", "stall", "stall_mid", "drop",
          "malformed", "midstream_error", "content_filter")
MARKER = re.compile(r"\[\[fault:([a-z0-9_]+)\]\]")
WORDS = ("the queue carries every answer in order while workers stream tokens from each provider and "
         "redis keeps a log so late readers never miss a chunk rivers mountains light quickly gently "
         "bright calm steady").split()


class SimulatorConfig(BaseModel):
    """Behaviour of the simulator; PUT /_simulator/config merges changes into it at run time."""

    model_config = ConfigDict(extra="forbid")
    ttft_ms: float = Field(default=30.0, ge=0)
    tokens_per_second: float = Field(default=200.0, ge=0)  # 0: as fast as possible
    default_max_tokens: int = Field(default=32, gt=0)
    fault_rate: float = Field(default=0.0, ge=0, le=1)
    faults: list[str] = Field(default_factory=lambda: ["429", "503", "drop"])
    provider_faults: dict[str, list[str]] = Field(default_factory=dict)  # provider -> faults on every request
    stall_s: float = Field(default=600.0, ge=0)
    retry_after_s: float = Field(default=1.0, ge=0)
    quota_rpm: int | None = Field(default=None, gt=0)
    quota_tpm: int | None = Field(default=None, gt=0)
    seed: int = 0


def count_tokens(text: str) -> int:
    """One token per whitespace-separated word: exact and easy to check in tests."""
    return len(text.split())


def answer_words(prompt: str, n: int) -> list[str]:
    digest = hashlib.sha256(prompt.encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return [rng.choice(WORDS) for _ in range(n)]


def split_chunks(words: list[str]) -> list[str]:
    """One chunk per token, with the leading space real streams carry."""
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


@dataclass
class Plan:
    """Everything about one response, decided before the first byte is sent."""

    provider: str
    model: str
    prompt_tokens: int
    chunks: list[str]
    finish: str  # stop, length, tool_calls, content_filter
    fault: str | None
    ttft_s: float
    gap_s: float
    tool: dict[str, Any] | None = None  # {"name", "arguments": JSON text}

    @property
    def completion_tokens(self) -> int:
        return len(self.chunks)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def tool_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties") or {}
    required = schema.get("required") or list(props)
    out: dict[str, Any] = {}
    for name in required:
        kind = (props.get(name) or {}).get("type", "string")
        out[name] = {"string": "Paris", "integer": 1, "number": 1.5, "boolean": True}.get(kind, "Paris")
    return out


def choose_fault(config: SimulatorConfig, provider: str, prompt: str, header: str | None, rng: random.Random) -> str | None:
    if header:
        return header
    marked = MARKER.search(prompt)
    if marked:
        return marked.group(1)
    forced = config.provider_faults.get(provider)
    if forced:
        return rng.choice(forced)
    if config.fault_rate and rng.random() < config.fault_rate and config.faults:
        return rng.choice(config.faults)
    return None


class Quota:
    """Sliding 60-second windows per (provider, key): requests and tokens."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], deque[tuple[float, int]]] = defaultdict(deque)

    def check(self, config: SimulatorConfig, provider: str, key: str, tokens: int) -> tuple[bool, float, int, int]:
        """(allowed, retry_after_s, remaining_requests, remaining_tokens); records when allowed."""
        if not (config.quota_rpm or config.quota_tpm):
            return True, 0.0, -1, -1
        now = time.monotonic()
        window = self.events[(provider, key)]
        while window and window[0][0] <= now - 60:
            window.popleft()
        used_tokens = sum(t for _, t in window)
        over_rpm = config.quota_rpm is not None and len(window) + 1 > config.quota_rpm
        over_tpm = config.quota_tpm is not None and used_tokens + tokens > config.quota_tpm
        rpm_left = (config.quota_rpm or 10**9) - len(window)
        tpm_left = (config.quota_tpm or 10**12) - used_tokens
        if over_rpm or over_tpm:
            wait = (window[0][0] + 60 - now) if window else 60.0
            return False, max(0.001, wait), max(0, rpm_left), max(0, tpm_left)
        window.append((now, tokens))
        return True, 0.0, rpm_left - 1, tpm_left - tokens

    def reset(self) -> None:
        self.events.clear()


@dataclass
class Stats:
    requests: dict[str, int]
    rate_limited: dict[str, int]
    faults: dict[str, int]
    concurrent_streams: int = 0
    peak_concurrent_streams: int = 0

    @classmethod
    def empty(cls) -> Stats:
        return cls(defaultdict(int), defaultdict(int), defaultdict(int))

    def as_dict(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "rate_limited": dict(self.rate_limited), "faults": dict(self.faults),
                "concurrent_streams": self.concurrent_streams, "peak_concurrent_streams": self.peak_concurrent_streams}


def now_ts() -> int:
    return int(time.time())
