"""Per-tenant provider keys, stored in Redis encrypted with AES-256-GCM under ENCRYPTION_MASTER_KEY.

A stored value is `v1.<master key id>.<nonce b64>.<ciphertext+tag b64>`; the master key id is the
first 8 hex characters of SHA-256 of the master key, so after a rotation the vault knows which
master a value was sealed with. The associated data binds a ciphertext to its tenant and provider:
a value copied to another tenant's slot does not decrypt. Decrypted keys live only in memory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from multillm.common import constants
from multillm.common.errors import ConfigurationError

VAULT = constants.VAULT


class VaultError(ConfigurationError):
    code = "vault"


def new_master_key() -> str:
    """64 hexadecimal characters: a fresh 256-bit master key."""
    return secrets.token_hex(32)


def master_key_id(master_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(master_hex)).hexdigest()[:8]


def mask(secret: str) -> str:
    """`sk-a…wxyz`: enough to tell keys apart, never enough to use one."""
    return f"{secret[:4]}…{secret[-4:]}" if len(secret) >= 12 else "…"


class Cipher:
    def __init__(self, master_hex: str) -> None:
        try:
            raw = bytes.fromhex(master_hex)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise VaultError("ENCRYPTION_MASTER_KEY: must be 64 hexadecimal characters; make one with `multillm keygen`")
        self._aead = AESGCM(raw)
        self.key_id = master_key_id(master_hex)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        b64 = base64.urlsafe_b64encode
        return f"v1.{self.key_id}.{b64(nonce).decode()}.{b64(sealed).decode()}"

    def open(self, value: str, context: str) -> str:
        try:
            version, key_id, nonce, sealed = value.split(".")
        except ValueError:
            raise VaultError("stored key: not a vault value") from None
        if version != "v1":
            raise VaultError(f"stored key: unknown format {version!r}")
        if key_id != self.key_id:
            raise VaultError(f"stored key: sealed with master key {key_id}, not the current {self.key_id}; rotate it")
        try:
            b64 = base64.urlsafe_b64decode
            return self._aead.decrypt(b64(nonce), b64(sealed), context.encode()).decode()
        except (InvalidTag, ValueError):
            raise VaultError("stored key: refused (tampered with, or another tenant's)") from None


class Vault:
    """Keys by tenant and provider in one Redis hash."""

    def __init__(self, client: redis.Redis, master_hex: str, old_master_hex: str | None = None) -> None:
        self.redis = client
        self.cipher = Cipher(master_hex)
        self.old = Cipher(old_master_hex) if old_master_hex else None

    @staticmethod
    def _field(tenant: str, provider: str) -> str:
        return f"{tenant}/{provider}"

    def set(self, tenant: str, provider: str, secret: str) -> None:
        field = self._field(tenant, provider)
        self.redis.hset(VAULT, field, self.cipher.seal(secret, field))

    def get(self, tenant: str, provider: str) -> str | None:
        field = self._field(tenant, provider)
        raw = self.redis.hget(VAULT, field)
        if raw is None:
            return None
        value = raw.decode()
        if self.old is not None and value.split(".")[1:2] == [self.old.key_id]:
            return self.old.open(value, field)
        return self.cipher.open(value, field)

    def delete(self, tenant: str, provider: str) -> bool:
        return bool(self.redis.hdel(VAULT, self._field(tenant, provider)))

    def list_masked(self) -> list[tuple[str, str, str]]:
        """(tenant, provider, masked key) for every stored key."""
        out = []
        for field, _ in sorted(self.redis.hgetall(VAULT).items()):
            tenant, provider = field.decode().split("/", 1)
            secret = self.get(tenant, provider) or ""
            out.append((tenant, provider, mask(secret)))
        return out

    def rotate(self) -> int:
        """Re-seal every value under the current master key; values already current are left as they are.

        With the old master key given, this needs no downtime: reads accept both until it finishes."""
        count = 0
        for field, raw in self.redis.hgetall(VAULT).items():
            name, value = field.decode(), raw.decode()
            if value.split(".")[1:2] == [self.cipher.key_id]:
                continue
            if self.old is None:
                raise VaultError("ENCRYPTION_OLD_MASTER_KEY: needed to re-encrypt values sealed with another master key")
            secret = self.old.open(value, name)
            self.redis.hset(VAULT, name, self.cipher.seal(secret, name))
            count += 1
        return count
