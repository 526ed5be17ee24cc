"""Gateway tenants: who an HTTP caller is, known by an API key the gateway hands out once.

A key is `mlm_` followed by 43 URL-safe characters (256 random bits). Redis keeps only its SHA-256
(a key this random needs no slow hash: nothing can be guessed from the digest), a masked form for
listings, and the tenant's policy: whether it may use the operator's provider keys when it has none
of its own in the vault (`shared_keys`). Tenants made here are the untrusted callers of the gateway;
jobs submitted through the Python API by a tenant with no record here are the operator's own.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

import redis
from pydantic import BaseModel, ConfigDict, Field

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.vault import VAULT

KEY_PREFIX = "mlm_"
TENANT_NAME = r"^[A-Za-z0-9_.-]{1,64}$"  # as Job.tenant


class TenantRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=TENANT_NAME)
    key_hash: str
    key_hint: str
    shared_keys: bool = False
    created_at: float = Field(default_factory=time.time)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hint(key: str) -> str:
    """`mlm_AbCd…wxyz`: enough to tell keys apart in a listing, never enough to use one."""
    return f"{key[:8]}…{key[-4:]}"


def looks_like_key(text: str) -> bool:
    return text.startswith(KEY_PREFIX) and 16 <= len(text) <= 200


class Tenants:
    """Create, list, revoke and look up tenants in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, name: str, *, shared_keys: bool = False) -> str:
        """A new tenant; returns its API key, which is stored nowhere in the clear."""
        if re.fullmatch(TENANT_NAME, name) is None:
            raise ConfigurationError(f"NAME: {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        key = new_key()
        record = TenantRecord(name=name, key_hash=hash_key(key), key_hint=key_hint(key), shared_keys=shared_keys)
        if not self.redis.hsetnx(constants.TENANTS, name, record.model_dump_json()):
            raise ConfigurationError(f"NAME: tenant {name!r} exists; revoke it first to issue a new key")
        self.redis.set(constants.tenant_key(record.key_hash), name)
        return key

    def get(self, name: str) -> TenantRecord | None:
        raw = self.redis.hget(constants.TENANTS, name)
        return TenantRecord.model_validate_json(raw) if raw else None

    def list(self) -> list[TenantRecord]:
        return sorted((TenantRecord.model_validate_json(raw) for raw in self.redis.hvals(constants.TENANTS)),
                      key=lambda r: r.name)

    def revoke(self, name: str) -> bool:
        """The tenant's key stops working at once; its jobs stay until they expire."""
        record = self.get(name)
        if record is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(constants.tenant_key(record.key_hash))
        pipe.hdel(constants.TENANTS, name)
        pipe.execute()
        return True

    def authenticate(self, key: str) -> TenantRecord | None:
        if not looks_like_key(key):
            return None
        name = self.redis.get(constants.tenant_key(hash_key(key)))
        return self.get(name.decode() if isinstance(name, bytes) else name) if name else None


def has_own_key(client: redis.Redis, tenant: str, provider: str) -> bool:
    """Whether the vault holds a key for this tenant and provider (no decryption needed to know)."""
    return bool(client.hexists(VAULT, f"{tenant}/{provider}"))


def may_use_operator_key(client: redis.Redis, tenant: str) -> bool:
    """A gateway tenant uses the operator's provider keys only if created with --shared-keys; a tenant
    with no gateway record is the operator's own (Python API callers hold the Redis credential)."""
    raw = client.hget(constants.TENANTS, tenant)
    return raw is None or TenantRecord.model_validate_json(raw).shared_keys
