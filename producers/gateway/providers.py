"""`GET /v1/providers` and `GET /v1/usage`: what the console's Providers page shows a tenant.

Providers in the health beat's fallback order, each with its health, circuit state, models, and the
quota windows of the key the tenant's jobs use there (its own key from the vault, else the
operator's when the tenant may share it): used of limit per window, concurrency and cooldown. Keys
themselves never leave: a quota names its key by `key_id` (a hash prefix), as `multillm quotas` does.
Usage is this tenant's only, per day and model.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from multillm.common.provider_health import Circuit, assess, read_health, read_order, recent_outcomes
from multillm.common.providers import SPECS
from multillm.common.quota import Quota, rule_for
from multillm.common.settings import Settings
from multillm.common.tenants import TenantRecord
from multillm.common.usage import tenant_usage
from multillm.common.vault import Vault
from multillm.producers.gateway.auth import authenticate
from multillm.producers.gateway.errors import GatewayError

USAGE_DAYS_MAX = 90


def key_for(client: redis.Redis, settings: Settings, tenant: TenantRecord, provider: str) -> str | None:
    """The key this tenant's jobs use at `provider`, as the worker picks it (common/run/runtime.py)."""
    master = settings.encryption_master_key
    if master is not None:
        own = Vault(client, master.get_secret_value()).get(tenant.name, provider)
        if own:
            return own
    operator = settings.provider(provider).api_key
    return operator.get_secret_value() if operator is not None and tenant.shared_keys else None


def quota_of(client: redis.Redis, settings: Settings, tenant: TenantRecord, provider: str) -> dict[str, Any] | None:
    key = key_for(client, settings, tenant, provider)
    if key is None:
        return None
    rule = rule_for(settings.provider(provider), key, settings.rate_limit)
    use = Quota(client).usage(rule)
    windows = [{"name": w.name, **use[w.name]} for w in rule.windows]  # type: ignore[dict-item]
    return {"key_id": rule.key_id, "windows": windows, "concurrent": use["concurrent"],
            "max_concurrent": rule.max_concurrent, "cooldown_s": use["cooldown_s"]}


def health_of(client: redis.Redis, settings: Settings, known: dict[str, dict[str, Any]], provider: str,
              circuit: str) -> dict[str, Any] | None:
    """The health beat's last assessment; before its first run, one made now from the recent calls."""
    if provider in known:
        return {**known[provider], "source": "health beat"}
    outcomes = recent_outcomes(client, provider, settings.health_window_s)
    if not outcomes:
        return None
    return {**asdict(assess(provider, outcomes, circuit, None)), "source": "recent calls"}


def overview(client: redis.Redis, settings: Settings, tenant: TenantRecord) -> list[dict[str, Any]]:
    known = read_health(client)
    circuits = Circuit(client)
    out = []
    for rank, pid in enumerate(read_order(client, list(SPECS)), 1):
        spec = SPECS[pid]
        circuit = circuits.state(pid)
        out.append({"object": "provider", "id": pid, "name": spec.name, "rank": rank,
                    "default_model": spec.default_model, "models": [m.id for m in spec.models],
                    "health": health_of(client, settings, known, pid, circuit), "circuit": circuit,
                    "quota": quota_of(client, settings, tenant, pid)})
    return out


async def index(request: Request) -> Response:
    tenant = await authenticate(request)
    state = request.app.state
    found = await anyio.to_thread.run_sync(overview, state.client.redis, state.settings, tenant)
    return JSONResponse({"object": "list", "data": found})


def days_param(request: Request) -> int:
    raw = request.query_params.get("days", "7")
    if not raw.isdigit() or not 1 <= int(raw) <= USAGE_DAYS_MAX:
        raise GatewayError(400, f"days: must be a whole number from 1 to {USAGE_DAYS_MAX}", param="days")
    return int(raw)


async def usage(request: Request) -> Response:
    tenant = await authenticate(request)
    days = days_param(request)
    until = datetime.now(UTC).date()
    rows = await anyio.to_thread.run_sync(tenant_usage, request.app.state.client.redis, tenant.name,
                                          until - timedelta(days=days - 1), until)
    return JSONResponse({"object": "list", "tenant": tenant.name, "data": rows})
