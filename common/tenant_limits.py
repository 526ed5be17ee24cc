"""Per-tenant limits stored in Redis: requests per window and a spend budget in USD.

Set with `multillm tenants limit`; enforced by the script that accepts a job
(`multillm.common.job_record`), so every producer applies them whatever its own environment. Spend is
what the tenant's finished jobs cost (added when each result is stored, `multillm.common.usage`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from multillm.common import constants
from multillm.common.errors import ConfigurationError


@dataclass(frozen=True)
class TenantLimit:
    tenant: str
    requests: int | None = None
    window_ms: int | None = None
    budget_usd: float | None = None

    def check(self) -> TenantLimit:
        if (self.requests is None) != (self.window_ms is None):
            raise ConfigurationError("--requests and --window-ms: give both, or neither")
        if self.requests is not None and self.requests <= 0:
            raise ConfigurationError(f"--requests: must be positive, not {self.requests}")
        if self.window_ms is not None and self.window_ms <= 0:
            raise ConfigurationError(f"--window-ms: must be positive, not {self.window_ms}")
        if self.budget_usd is not None and self.budget_usd < 0:
            raise ConfigurationError(f"--budget-usd: must not be negative, not {self.budget_usd}")
        return self


@dataclass(frozen=True)
class TenantState:
    limit: TenantLimit
    accepted_in_window: int
    spent_usd: float


class TenantLimits:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def set(self, limit: TenantLimit) -> None:
        """Store the limits given; a request limit and a budget are set (or kept) independently."""
        limit.check()
        fields: dict[str, str] = {}
        if limit.requests is not None and limit.window_ms is not None:
            fields.update(requests=str(limit.requests), window_ms=str(limit.window_ms))
        if limit.budget_usd is not None:
            fields["budget_usd"] = repr(limit.budget_usd)
        if not fields:
            raise ConfigurationError("limit: give --requests with --window-ms, or --budget-usd (or both)")
        self.redis.hset(constants.tenant_limits(limit.tenant), mapping=fields)

    def clear(self, tenant: str) -> None:
        self.redis.delete(constants.tenant_limits(tenant), constants.tenant_accepted(tenant))

    def reset_spend(self, tenant: str) -> None:
        self.redis.delete(constants.tenant_spent(tenant))

    def get(self, tenant: str) -> TenantLimit:
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(constants.tenant_limits(tenant)).items()}
        return TenantLimit(tenant, int(raw["requests"]) if "requests" in raw else None,
                           int(raw["window_ms"]) if "window_ms" in raw else None,
                           float(raw["budget_usd"]) if "budget_usd" in raw else None)

    def state(self, tenant: str) -> TenantState:
        limit = self.get(tenant)
        accepted = 0
        if limit.window_ms:
            since = time.time() * 1000 - limit.window_ms
            accepted = int(self.redis.zcount(constants.tenant_accepted(tenant), since, "+inf"))
        spent = float(self.redis.get(constants.tenant_spent(tenant)) or 0)
        return TenantState(limit, accepted, spent)

    def tenants(self) -> list[str]:
        """Tenants with stored limits."""
        pattern = constants.tenant_limits("*")
        head, tail = pattern.split("*")
        return sorted(k.decode()[len(head):-len(tail)] for k in self.redis.scan_iter(match=pattern))
