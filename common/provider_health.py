"""Provider health: rolling statistics from real traffic, a circuit breaker per provider, a score,
and the fallback order the health beat writes to Redis for producers and workers to read.

Circuit: `failure_threshold` consecutive failures open it for `cooldown_s`; after that one caller
takes the half-open probe (an atomic SET NX); its success closes the circuit, its failure re-opens it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from multillm.common import constants

HEALTH = constants.HEALTH
ORDER = constants.FALLBACK_ORDER
RECENT = 200  # outcomes kept per provider for rolling statistics

# KEYS: circuit hash   ARGV: ok (1/0), now, threshold, cooldown
_RECORD = """
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'failures', 0, 'state', 'closed', 'until', 0)
  return 0
end
local f = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if f >= tonumber(ARGV[3]) or state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', tonumber(ARGV[2]) + tonumber(ARGV[4]))
  return 1
end
return 0
"""


def stats_key(provider: str) -> str:
    return constants.stats(provider)


def circuit_key(provider: str) -> str:
    return constants.circuit(provider)


@dataclass
class CallOutcome:
    ok: bool
    latency_s: float
    ttft_s: float | None
    code: str | None  # error code when not ok
    at: float = field(default_factory=time.time)


class Circuit:
    def __init__(self, client: redis.Redis, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.redis = client
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._record = client.register_script(_RECORD)

    def record(self, provider: str, ok: bool, pipe: redis.client.Pipeline | None = None) -> bool:
        """Count a call's outcome; True if this failure opened the circuit. A success may be added to
        `pipe` instead (it only closes the circuit: no reply to wait for)."""
        if ok and pipe is not None:
            pipe.hset(circuit_key(provider), mapping={"failures": 0, "state": "closed", "until": 0})
            return False
        args = ["1" if ok else "0", time.time(), self.threshold, self.cooldown_s]
        return bool(self._record(keys=[circuit_key(provider)], args=args))

    def state(self, provider: str, stored: Mapping[bytes, bytes] | None = None) -> str:
        """`stored`: the circuit's hash when the caller has read it already (in a start-up script)."""
        raw = self.redis.hgetall(circuit_key(provider)) if stored is None else stored
        data = {k.decode(): v.decode() for k, v in raw.items()}
        state = str(data.get("state", "closed"))
        if state == "open" and time.time() >= float(data.get("until", 0)):
            return "half_open"
        return state

    def allow(self, provider: str, stored: Mapping[bytes, bytes] | None = None) -> bool:
        """Closed: yes. Open: no. Past the cooldown: only the one caller that takes the probe."""
        state = self.state(provider, stored)
        if state == "closed":
            return True
        if state == "open":
            return False
        taken = self.redis.set(f"{circuit_key(provider)}:probe", "1", nx=True, ex=max(1, int(self.cooldown_s)))
        if taken:
            self.redis.hset(circuit_key(provider), "state", "half_open")
        return bool(taken)


def record_outcome(client: redis.Redis, provider: str, outcome: CallOutcome, pipe: redis.client.Pipeline | None = None) -> None:
    """Written at once, or added to `pipe` for the caller to send with other writes."""
    key = stats_key(provider)
    writes = client.pipeline(transaction=False) if pipe is None else pipe
    writes.lpush(key, json.dumps(asdict(outcome)))
    writes.ltrim(key, 0, RECENT - 1)
    writes.expire(key, 3600)
    if pipe is None:
        writes.execute()


@dataclass
class Health:
    provider: str
    status: str  # healthy, degraded, down
    score: float
    success_rate: float
    p50_s: float | None
    p95_s: float | None
    ttft_p50_s: float | None
    rate_limited_share: float
    circuit: str
    probe_ok: bool | None
    samples: int


def _quantile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def assess(provider: str, outcomes: list[CallOutcome], circuit: str, probe_ok: bool | None) -> Health:
    """A score in [0, 1]: success rate, latency and 429 share of recent traffic, probe and circuit."""
    n = len(outcomes)
    ok = [o for o in outcomes if o.ok]
    success = len(ok) / n if n else (1.0 if probe_ok is not False else 0.0)
    limited = sum(o.code == "rate_limited" for o in outcomes) / n if n else 0.0
    p50 = _quantile([o.latency_s for o in ok], 50)
    p95 = _quantile([o.latency_s for o in ok], 95)
    ttft = _quantile([o.ttft_s for o in ok if o.ttft_s is not None], 50)
    latency_factor = 1.0 / (1.0 + (p95 or 0.0) / 10.0)
    score = success * (0.7 + 0.3 * latency_factor) * (1.0 - 0.5 * limited)
    if probe_ok is False:
        score *= 0.2
    if circuit == "open":
        score = 0.0
    elif circuit == "half_open":
        score *= 0.5
    status = "down" if score < 0.2 else "degraded" if score < 0.7 else "healthy"
    return Health(provider, status, round(score, 4), round(success, 4), p50, p95, ttft, round(limited, 4),
                  circuit, probe_ok, n)


def recent_outcomes(client: redis.Redis, provider: str, window_s: float) -> list[CallOutcome]:
    """The last outcomes within `window_s` seconds: old failures stop counting once they age out."""
    since = time.time() - window_s
    outcomes = [CallOutcome(**json.loads(raw)) for raw in client.lrange(stats_key(provider), 0, RECENT - 1)]
    return [o for o in outcomes if o.at >= since]


def write_order(client: redis.Redis, healths: list[Health]) -> list[str]:
    """Store each provider's health and the order: best score first, providers that are down last."""
    order = [h.provider for h in sorted(healths, key=lambda h: (h.status == "down", -h.score, h.provider))]
    pipe = client.pipeline()
    pipe.set(ORDER, json.dumps(order))
    pipe.hset(HEALTH, mapping={h.provider: json.dumps(asdict(h)) for h in healths})
    pipe.hset(HEALTH, "_updated", time.time())
    pipe.execute()
    return order


def read_order(client: redis.Redis, default: list[str]) -> list[str]:
    raw = client.get(ORDER)
    order = [p for p in json.loads(raw) if p in default] if raw else []
    return order + [p for p in default if p not in order]


def read_health(client: redis.Redis) -> dict[str, dict[str, Any]]:
    return {k.decode(): json.loads(v) for k, v in client.hgetall(HEALTH).items() if not k.startswith(b"_")}
