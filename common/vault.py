"""Per-tenant provider keys, stored in Redis encrypted with AES-256-GCM under ENCRYPTION_MASTER_KEY.

A stored value is `v1.<master key id>.<nonce b64>.<ciphertext+tag b64>`; the master key id is the
first 8 hex characters of SHA-256 of the master key, so after a rotation the vault knows which
master a value was sealed with. The associated data binds a ciphertext to its tenant and provider:
a value copied to another tenant's slot does not decrypt. Decrypted keys live only in memory.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import secrets

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.redact import register

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
        register(master_hex)
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
            raise VaultError(f"stored key: sealed with master key {key_id}, not the current {self.key_id}; "
                             "give the previous one as ENCRYPTION_MASTER_KEY_PREVIOUS and run `multillm keys rotate`")
        try:
            b64 = base64.urlsafe_b64decode
            plaintext = self._aead.decrypt(b64(nonce), b64(sealed), context.encode()).decode()
        except (InvalidTag, ValueError):
            raise VaultError("stored key: refused (tampered with, or another tenant's)") from None
        register(plaintext)  # a decrypted key is masked in everything this process writes
        return plaintext


# KEYS: vault   ARGV: field, value read, value resealed. Replaces the value only if it is still the one
# read, so a key set (or deleted) while a rotation runs is never overwritten with the older secret.
_RESEAL = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


@dataclasses.dataclass
class Rotation:
    """What `Vault.rotate` did: values resealed, values already current, and `tenant/provider` ->
    why an entry could not be read (it is left as it was)."""

    resealed: int = 0
    current: int = 0
    broken: dict[str, str] = dataclasses.field(default_factory=dict)


class Vault:
    """Keys by tenant and provider in one Redis hash.

    `previous_master_hex` is the master key before a rotation: values still sealed with it stay
    readable until `rotate()` has resealed them, so workers given both keys never fail a job."""

    def __init__(self, client: redis.Redis, master_hex: str, previous_master_hex: str | None = None) -> None:
        self.redis = client
        self.cipher = Cipher(master_hex)
        self.previous = Cipher(previous_master_hex) if previous_master_hex else None
        self._reseal = client.register_script(_RESEAL)

    @staticmethod
    def _field(tenant: str, provider: str) -> str:
        return f"{tenant}/{provider}"

    def set(self, tenant: str, provider: str, secret: str) -> None:
        register(secret)
        field = self._field(tenant, provider)
        self.redis.hset(VAULT, field, self.cipher.seal(secret, field))

    def get(self, tenant: str, provider: str) -> str | None:
        field = self._field(tenant, provider)
        raw = self.redis.hget(VAULT, field)
        return None if raw is None else self._open(raw.decode(), field)

    def _open(self, value: str, field: str) -> str:
        if self.previous is not None and value.split(".")[1:2] == [self.previous.key_id]:
            return self.previous.open(value, field)
        return self.cipher.open(value, field)

    def delete(self, tenant: str, provider: str) -> bool:
        return bool(self.redis.hdel(VAULT, self._field(tenant, provider)))

    def list_masked(self) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
        """(tenant, provider, masked key) for every readable key, and `tenant/provider` -> why for the rest."""
        out, broken = [], {}
        for raw_field, raw in sorted(self.redis.hgetall(VAULT).items()):
            name = raw_field.decode(errors="replace")
            tenant, _, provider = name.partition("/")
            try:
                out.append((tenant, provider, mask(self._open(raw.decode(), name))))
            except (VaultError, UnicodeDecodeError) as exc:
                broken[name] = str(exc) if isinstance(exc, VaultError) else "stored key: not a vault value"
        return out, broken

    def rotate(self) -> Rotation:
        """Reseal every value under the current master key. Values already current are left as they
        are; an entry that cannot be read is skipped and named in the report, the rest go on."""
        done = Rotation()
        for raw_field, raw in sorted(self.redis.hgetall(VAULT).items()):
            name, value = raw_field.decode(errors="replace"), raw.decode(errors="replace")
            if value.split(".")[1:2] == [self.cipher.key_id]:
                done.current += 1
                continue
            try:
                secret = self._open(value, name)
            except VaultError as exc:
                done.broken[name] = str(exc)
                continue
            if self._reseal(keys=[VAULT], args=[raw_field, raw, self.cipher.seal(secret, name)]):
                done.resealed += 1
        return done
