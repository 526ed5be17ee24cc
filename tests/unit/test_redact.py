"""Redaction by value and by shape: a registered key is masked in any text, in the forms it is echoed in."""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from multillm.common.errors import AuthenticationError, MultiLLMError
from multillm.common.redact import REDACTED, Redactor, redact, register


def test_a_registered_key_without_any_key_shape_is_masked_wherever_it_appears():
    key = secrets.token_hex(32)
    redactor = Redactor()
    text = f"x-api-key: {key} and again {key}"
    assert key in redactor.redact("plain " + key)  # not yet known and no shape: untouched
    redactor.register(key)
    out = redactor.redact(text)
    assert key not in out and out.count(REDACTED) == 2


def test_url_encoded_and_json_escaped_forms_are_masked():
    key = 'k3y/with+odd"chars=' + secrets.token_hex(8)
    redactor = Redactor()
    redactor.register(key)
    for text in (f"?key={quote(key, safe='')}", json.dumps({"auth": key}), key):
        assert key not in redactor.redact(text) and quote(key, safe="") not in redactor.redact(text)
    assert json.loads(redactor.redact(json.dumps({"auth": key}))) == {"auth": REDACTED}  # still valid JSON


def test_short_values_are_not_registered_so_words_survive():
    redactor = Redactor()
    redactor.register("abc")
    redactor.register("")
    redactor.register(None)
    assert redactor.redact("abc is fine") == "abc is fine"


def test_credential_fields_are_masked_even_for_keys_never_registered():
    text = "headers {'x-api-key': 'deadbeefdeadbeef', 'Authorization': 'Basic dXNlcjpwYXNz'} url ?alt=sse&key=zzzzzzzz1"
    out = Redactor().redact(text)
    assert "deadbeefdeadbeef" not in out and "dXNlcjpwYXNz" not in out and "zzzzzzzz1" not in out


def test_a_models_own_text_keeps_key_like_words_and_loses_only_registered_keys():
    key = secrets.token_hex(20)
    redactor = Redactor()
    redactor.register(key)
    answer = f'api_key = os.environ["OPENAI_API_KEY"]  # sk-example-placeholder {key}'
    out = redactor.redact_values(answer)
    assert out.startswith('api_key = os.environ["OPENAI_API_KEY"]  # sk-example-placeholder') and key not in out


@given(st.text(max_size=60), st.text(max_size=60), st.text(alphabet="0123456789abcdef", min_size=8, max_size=64))
def test_a_registered_key_never_survives_between_any_text(before, after, key):
    redactor = Redactor()
    redactor.register(key)
    assert key not in redactor.redact(before + key + after).replace(REDACTED, "\x00")


def test_provider_error_text_is_redacted_when_the_error_is_made_and_in_its_dict():
    key = secrets.token_hex(32)
    register(key)
    error = AuthenticationError(f"bad key {key}", provider="openai", model="gpt-4o", job_id="j1", status=401)
    assert key not in str(error) and key not in json.dumps(error.to_dict())
    assert key not in MultiLLMError(f"other {key}").to_dict()["message"]
    assert key not in redact(f"Bearer {key}")


def test_settings_register_every_environment_key_the_master_key_and_the_redis_password():
    from multillm.common.settings import load_settings
    from multillm.common.vault import new_master_key

    key, master, password = secrets.token_hex(32), new_master_key(), secrets.token_urlsafe(16)
    load_settings({"OPENAI_API_KEY": key, "ENCRYPTION_MASTER_KEY": master, "REDIS_URL": f"redis://:{password}@h:6379/0"})
    out = redact(f"{key} {master} {password}")
    assert key not in out and master not in out and password not in out


def test_vault_keys_are_registered_when_stored_and_when_decrypted():
    import fakeredis

    from multillm.common.redact import REDACTOR
    from multillm.common.vault import Vault, new_master_key

    master, stored = new_master_key(), secrets.token_urlsafe(40)
    client = fakeredis.FakeRedis()
    Vault(client, master).set("acme", "openai", stored)
    assert REDACTOR.known(stored)
    read_back = secrets.token_urlsafe(40)  # sealed by hand: this process learns it only by decrypting
    vault = Vault(client, master)
    client.hset("multillm:vault", "acme/google", vault.cipher.seal(read_back, "acme/google"))
    assert not REDACTOR.known(read_back)
    assert vault.get("acme", "google") == read_back and REDACTOR.known(read_back)


def test_many_keys_and_keys_inside_keys_are_masked_whole():
    redactor = Redactor()
    keys = [secrets.token_hex(16) for _ in range(200)]  # past the substring scan: the automaton decides
    for key in keys:
        redactor.register(key)
    outer = keys[0] + "-and-more"
    redactor.register(outer)
    text = f"a {keys[7]} b {outer} c {keys[199]}{keys[3]} d"
    assert redactor.redact_values(text) == f"a {REDACTED} b {REDACTED} c {REDACTED}{REDACTED} d"


@given(st.lists(st.text(alphabet="abcdef0123456789", min_size=8, max_size=20), min_size=1, max_size=60),
       st.text(max_size=40))
def test_no_registered_key_survives_however_many_are_registered(keys, filler):
    redactor = Redactor()
    for key in keys:
        redactor.register(key)
    text = filler.join(keys)
    out = redactor.redact_values(text)
    assert not any(key in out.replace(REDACTED, "\x00") for key in keys if key not in filler)


def test_a_provider_client_registers_the_key_it_is_built_with():
    from multillm.common.providers import create_provider
    from multillm.common.redact import REDACTOR

    key = secrets.token_urlsafe(30)
    create_provider("anthropic", key).close()
    assert REDACTOR.known(key) and key not in redact(f"x-api-key {key}")
