"""Gateway tenants: keys shown once and stored hashed, revocation, the shared-keys policy, the CLI."""

from __future__ import annotations

import fakeredis
import pytest
from typer.testing import CliRunner

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.tenants import Tenants, hash_key, may_use_operator_key
from multillm.common.vault import Vault, new_master_key


@pytest.fixture
def r():
    return fakeredis.FakeRedis()


def test_a_key_is_returned_once_and_only_its_hash_is_stored(r):
    key = Tenants(r).create("acme")
    assert key.startswith("mlm_") and len(key) >= 40
    stored = b"".join(v for k in r.keys("*") for v in ([r.get(k)] if r.type(k) == b"string" else r.hvals(k)))
    assert key.encode() not in stored and hash_key(key).encode() in stored
    assert Tenants(r).authenticate(key).name == "acme"


def test_two_keys_are_never_alike_and_a_wrong_key_finds_no_one(r):
    tenants = Tenants(r)
    assert tenants.create("a") != tenants.create("b")
    for wrong in ("", "mlm_", "mlm_" + "x" * 43, "sk-something-else-entirely"):
        assert tenants.authenticate(wrong) is None


def test_a_revoked_key_stops_working_and_the_name_can_be_reissued(r):
    tenants = Tenants(r)
    old = tenants.create("acme")
    assert tenants.revoke("acme") and tenants.authenticate(old) is None
    assert not tenants.revoke("acme")
    new = tenants.create("acme")
    assert tenants.authenticate(new).name == "acme" and tenants.authenticate(old) is None


def test_an_existing_or_malformed_name_is_refused(r):
    tenants = Tenants(r)
    tenants.create("acme")
    with pytest.raises(ConfigurationError, match="exists"):
        tenants.create("acme")
    with pytest.raises(ConfigurationError, match="NAME"):
        tenants.create("acme:evil")  # `:` separates the tenant from its job ids


def test_only_tenants_with_shared_keys_may_use_the_operators_keys(r):
    tenants = Tenants(r)
    tenants.create("own")
    tenants.create("shared", shared_keys=True)
    assert not may_use_operator_key(r, "own")
    assert may_use_operator_key(r, "shared")
    assert may_use_operator_key(r, "default")  # not a gateway tenant: the operator's own jobs


def test_the_runner_refuses_the_operators_key_to_a_tenant_without_shared_keys(r):
    from multillm.common.errors import AuthenticationError
    from multillm.common.jobs import Job
    from multillm.common.run.runtime import Runtime
    from multillm.common.settings import load_settings

    master = new_master_key()
    settings = load_settings({"OPENAI_API_KEY": "sk-operator-0123456789abcdef", "ENCRYPTION_MASTER_KEY": master})
    Tenants(r).create("own")
    Tenants(r).create("shared", shared_keys=True)
    runtime = Runtime(settings, client=r)
    job = Job(provider="openai", model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], tenant="own")
    with pytest.raises(AuthenticationError, match="no API key for tenant 'own'"):
        runtime.api_key(job)
    Vault(r, master).set("own", "openai", "sk-own-0123456789abcdef")
    assert runtime.api_key(job) == "sk-own-0123456789abcdef"
    assert runtime.api_key(job.model_copy(update={"tenant": "shared"})) == "sk-operator-0123456789abcdef"


def test_the_cli_prints_the_key_once_lists_it_masked_and_revokes(monkeypatch, r):
    from multillm.producers.cli import tenants as cli
    from multillm.producers.cli.main import app

    monkeypatch.setattr(cli, "_tenants", lambda: Tenants(r))
    runner = CliRunner()
    created = runner.invoke(app, ["tenants", "create", "acme", "--shared-keys"])
    key = created.output.strip()
    assert created.exit_code == 0 and key.startswith("mlm_")
    listed = runner.invoke(app, ["tenants", "list", "--json"])
    assert key not in listed.output and '"shared_keys": true' in listed.output and key[:8] in listed.output
    assert runner.invoke(app, ["tenants", "revoke", "acme"]).exit_code == 0
    assert runner.invoke(app, ["tenants", "revoke", "acme"]).exit_code == 1
    assert r.hlen(constants.TENANTS) == 0
