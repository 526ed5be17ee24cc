"""Who is calling: the tenant an `Authorization: Bearer mlm_...` key belongs to, and what it may use.

Keys travel only in the Authorization header (never a URL: URLs end up in logs and browser
history), and only their SHA-256 is looked up. Every job id a tenant names is put in the tenant's
namespace (`tenant:id`), so one tenant can neither read nor pre-claim another's ids; an id outside
the caller's namespace is simply not found (404, so ids of others are not even confirmed).
"""

from __future__ import annotations

import json
import re

import redis.asyncio as aioredis
from starlette.requests import Request

from multillm.common import constants
from multillm.common.tenants import TenantRecord, hash_key, looks_like_key
from multillm.producers.gateway.errors import GatewayError, not_found

EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


async def authenticate(request: Request) -> TenantRecord:
    """The caller's tenant, or a 401; the tenant name is kept on the request for metrics and logs."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise GatewayError(401, "missing API key: send `Authorization: Bearer <key>`", code="missing_api_key")
    record = await lookup(request.app.state.aredis, key)
    if record is None:
        raise GatewayError(401, "invalid API key (unknown or revoked)", code="invalid_api_key")
    request.state.tenant = record.name
    return record


async def lookup(client: aioredis.Redis, key: str) -> TenantRecord | None:
    if not looks_like_key(key):
        return None
    name = await client.get(constants.tenant_key(hash_key(key)))
    if isinstance(name, bytes):
        name = name.decode()
    raw = await client.hget(constants.TENANTS, name) if name else None
    return TenantRecord.model_validate_json(raw) if raw else None


def internal_id(tenant: str, external: str) -> str:
    """The job id in Redis: the tenant's namespace (tenant names cannot contain `:`)."""
    return f"{tenant}:{external}"


def external_id(tenant: str, internal: str) -> str:
    return internal.removeprefix(f"{tenant}:")


async def owned_job(request: Request, tenant: TenantRecord, external: str) -> str:
    """The internal id of the caller's job `external`, or a 404 (also for every other tenant's job)."""
    if not EXTERNAL_ID.match(external):
        raise not_found(f"job {external!r}", "id")
    job_id = internal_id(tenant.name, external)
    raw = await request.app.state.aredis.get(constants.job(job_id))
    if raw is None or json.loads(raw).get("tenant") != tenant.name:
        raise not_found(f"job {external!r}", "id")
    return job_id
