"""The key vault: AES-256-GCM, bound to tenant and provider, rotation without downtime."""

from __future__ import annotations

import fakeredis
import pytest

from multillm.common.vault import VAULT, Cipher, Vault, VaultError, mask, new_master_key

SECRET = "sk-live-0123456789abcdefSENTINEL"


@pytest.fixture
def r():
    return fakeredis.FakeRedis()


def test_round_trip_and_nothing_in_the_clear(r):
    vault = Vault(r, new_master_key())
    vault.set("acme", "openai", SECRET)
    assert vault.get("acme", "openai") == SECRET
    assert b"SENTINEL" not in r.hget(VAULT, "acme/openai")
    assert vault.list_masked() == [("acme", "openai", "sk-l…INEL")]


def test_wrong_master_key_is_a_clear_error_not_garbage(r):
    Vault(r, new_master_key()).set("acme", "openai", SECRET)
    with pytest.raises(VaultError, match="rotate"):
        Vault(r, new_master_key()).get("acme", "openai")


def test_tampered_or_moved_ciphertext_is_refused(r):
    vault = Vault(r, new_master_key())
    vault.set("acme", "openai", SECRET)
    value = r.hget(VAULT, "acme/openai").decode()
    r.hset(VAULT, "evil/openai", value)  # copied into another tenant's slot
    with pytest.raises(VaultError, match="refused"):
        vault.get("evil", "openai")
    head, tail = value.rsplit(".", 1)
    flipped = tail[:-3] + ("A" if tail[-3] != "A" else "B") + tail[-2:]
    r.hset(VAULT, "acme/openai", f"{head}.{flipped}")
    with pytest.raises(VaultError, match="refused"):
        vault.get("acme", "openai")


def test_rotation_keeps_old_values_readable_until_resealed_then_old_key_is_unneeded(r):
    old, new = new_master_key(), new_master_key()
    Vault(r, old).set("acme", "openai", SECRET)
    during = Vault(r, new, old_master_hex=old)
    assert during.get("acme", "openai") == SECRET  # no downtime while rotating
    assert during.rotate() == 1 and during.rotate() == 0
    assert Vault(r, new).get("acme", "openai") == SECRET


def test_malformed_master_key_says_how_to_make_one():
    with pytest.raises(VaultError, match="multillm keygen"):
        Cipher("abc")


def test_mask_never_reveals_short_keys():
    assert mask("short") == "…" and SECRET not in mask(SECRET)
