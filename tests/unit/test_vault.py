"""The key vault: AES-256-GCM, bound to tenant and provider, rotation without downtime."""

from __future__ import annotations

import fakeredis
import pytest

from multillm.common.errors import ConfigurationError
from multillm.common.settings import load_settings
from multillm.common.vault import VAULT, Cipher, Rotation, Vault, VaultError, mask, new_master_key

SECRET = "sk-live-0123456789abcdefSENTINEL"


@pytest.fixture
def r():
    return fakeredis.FakeRedis()


def test_round_trip_and_nothing_in_the_clear(r):
    vault = Vault(r, new_master_key())
    vault.set("acme", "openai", SECRET)
    assert vault.get("acme", "openai") == SECRET
    assert b"SENTINEL" not in r.hget(VAULT, "acme/openai")
    assert vault.list_masked() == ([("acme", "openai", "sk-l…INEL")], {})


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
    during = Vault(r, new, previous_master_hex=old)
    assert during.get("acme", "openai") == SECRET  # no downtime while rotating
    assert during.rotate() == Rotation(resealed=1) and during.rotate() == Rotation(current=1)
    assert Vault(r, new).get("acme", "openai") == SECRET


def test_malformed_master_key_says_how_to_make_one():
    with pytest.raises(VaultError, match="multillm keygen"):
        Cipher("abc")


def test_mask_never_reveals_short_keys():
    assert mask("short") == "…" and SECRET not in mask(SECRET)


def test_a_worker_with_only_the_new_key_fails_where_one_given_the_previous_key_reads(r):
    old, new = new_master_key(), new_master_key()
    Vault(r, old).set("acme", "openai", SECRET)
    with pytest.raises(VaultError, match="ENCRYPTION_MASTER_KEY_PREVIOUS"):
        Vault(r, new).get("acme", "openai")
    assert Vault(r, new, old).get("acme", "openai") == SECRET


def test_rotation_skips_and_names_broken_entries_and_reseals_the_rest(r):
    old, new, stranger = new_master_key(), new_master_key(), new_master_key()
    for tenant in ("a", "b", "c"):
        Vault(r, old).set(tenant, "openai", SECRET + tenant)
    Vault(r, stranger).set("lost", "openai", SECRET)  # sealed with a key nobody has any more
    value = r.hget(VAULT, "b/openai").decode()
    r.hset(VAULT, "moved/openai", value)  # another tenant's value copied into this slot
    r.hset(VAULT, "garbage/openai", "not-a-vault-value")
    done = Vault(r, new, old).rotate()
    assert done.resealed == 3 and done.current == 0
    assert set(done.broken) == {"lost/openai", "moved/openai", "garbage/openai"}
    assert "master key" in done.broken["lost/openai"] and "refused" in done.broken["moved/openai"]
    assert [Vault(r, new).get(t, "openai") for t in "abc"] == [SECRET + t for t in "abc"]
    readable, broken = Vault(r, new).list_masked()
    assert [(t, p) for t, p, _ in readable] == [("a", "openai"), ("b", "openai"), ("c", "openai")]
    assert set(broken) == set(done.broken)


def test_a_key_set_while_a_rotation_runs_is_not_overwritten_with_the_older_secret(r):
    old, new = new_master_key(), new_master_key()
    Vault(r, old).set("acme", "openai", "sk-old-0123456789abcdef")

    class SetDuringRotation(Vault):
        def _open(self, value: str, field: str) -> str:
            secret = super()._open(value, field)
            Vault(r, new).set("acme", "openai", "sk-new-0123456789abcdef")  # `keys set` meanwhile
            return secret

    done = SetDuringRotation(r, new, old).rotate()
    assert done.resealed == 0 and not done.broken
    assert Vault(r, new).get("acme", "openai") == "sk-new-0123456789abcdef"


def test_the_previous_master_key_setting_is_validated_by_name():
    with pytest.raises(ConfigurationError, match=r"ENCRYPTION_MASTER_KEY_PREVIOUS: .*64 hexadecimal"):
        load_settings({"ENCRYPTION_MASTER_KEY_PREVIOUS": "abc"})
    key = new_master_key()
    settings = load_settings({"ENCRYPTION_MASTER_KEY": new_master_key(), "ENCRYPTION_MASTER_KEY_PREVIOUS": key})
    assert settings.encryption_master_key_previous.get_secret_value() == key
