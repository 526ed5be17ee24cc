"""What the console reads, on fakeredis: a batch's state and rows per tenant, providers with circuit and
quota, a tenant's usage per day and model; and matrix.html's embedded data."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from multillm.common import constants
from multillm.common.jobs import JobResult, Timings
from multillm.common.providers import SPECS
from multillm.common.schemas import Usage
from multillm.common.settings import load_settings
from multillm.common.tenants import TenantRecord
from multillm.common.usage import record_usage, tenant_usage
from multillm.common.vault import Vault, new_master_key
from multillm.producers.batch.state import ROWS_MAX, BatchState, batch_rows, list_batches
from multillm.producers.console.page import _embedded_json, matrix_page
from multillm.producers.gateway.batches import batch_body
from multillm.producers.gateway.errors import GatewayError
from multillm.producers.gateway.providers import days_param, key_for, overview


@pytest.fixture
def r() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def row(custom_id: str, provider: str = "openai", model: str = "gpt-4o-mini", text: str = "Paris",
        error: dict | None = None) -> dict:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    return {"custom_id": custom_id, "provider": provider, "model": model, "prompt": "Capital of France?",
            "expected": "Paris", "error": error, "response": {"status_code": 200, "body": body},
            "metrics": {"status": "failed" if error else "succeeded", "latency_s": 0.5, "ttft_s": 0.1,
                        "input_tokens": 5, "output_tokens": 1, "cost_usd": 0.0001, "attempts": 1,
                        "error_code": error["code"] if error else None}}


def test_a_batch_is_listed_for_its_tenant_only(r):
    BatchState(r, "b1", 60).start("acme", "in.jsonl", ["openai/gpt-4o-mini"], 10)
    BatchState(r, "b2", 60).start("other", "in.jsonl", ["openai/gpt-4o-mini"], 10)
    assert [b["id"] for b in list_batches(r, "acme")] == ["b1"]
    assert {b["id"] for b in list_batches(r)} == {"b1", "b2"}
    assert batch_body(r, "other", "b1") is None  # another tenant's batch is not found


def test_kept_rows_have_the_results_ttl_and_the_last_row_per_line_wins(r):
    state = BatchState(r, "b1", 120)
    state.start("acme", "in.jsonl", ["openai/gpt-4o-mini"], 2)
    state.keep([row("a", text="Lyon"), row("b")])
    state.keep([row("a", text="Paris")])
    assert 0 < r.ttl(constants.batch_rows("b1")) <= 120
    assert {x["custom_id"]: x["response"]["body"]["choices"][0]["message"]["content"] for x in batch_rows(r, "b1")} \
        == {"a": "Paris", "b": "Paris"}


def test_kept_rows_are_capped_to_the_newest(r):
    state = BatchState(r, "b1", 60)
    state.keep([row(str(i)) for i in range(ROWS_MAX + 5)])
    assert r.llen(constants.batch_rows("b1")) == ROWS_MAX
    assert json.loads(r.lindex(constants.batch_rows("b1"), 0))["custom_id"] == "5"


def test_the_batch_body_has_progress_figures_and_rows(r):
    state = BatchState(r, "b1", 60)
    state.start("acme", "in.jsonl", ["openai/gpt-4o-mini", "google/gemini-2.0-flash"], 2)
    state.keep([row("a"), row("a", "google", "gemini-2.0-flash", error={"code": "rate_limited", "message": "429"})])
    state.progress(2, 1)
    body = batch_body(r, "acme", "b1")
    assert body is not None and (body["done"], body["failed"], body["total"], body["state"]) == (2, 1, 2, "running")
    assert body["scoring"] == "contains" and len(body["rows"]) == 2
    figures = {f["provider/model"]: f for f in body["figures"]}
    assert figures["openai/gpt-4o-mini"]["score"] == 1.0 and figures["google/gemini-2.0-flash"]["errors"] == "rate_limited 1"


def test_a_batch_id_that_is_not_a_plain_token_is_not_looked_up(r):
    assert batch_body(r, "acme", "b1:*") is None


def test_usage_is_per_day_and_model_for_the_tenant_only(r):
    finished = datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()
    for tenant, model in (("acme", "gpt-4o-mini"), ("acme", "gpt-4o-mini"), ("acme", "gpt-4o"), ("other", "gpt-4o")):
        record_usage(r, JobResult(job_id="j", status="succeeded", provider="openai", model=model, tenant=tenant,
                                  usage=Usage(input_tokens=10, output_tokens=5), cost_usd=0.5,
                                  timings=Timings(submitted_at=finished - 1, finished_at=finished)))
    rows = tenant_usage(r, "acme", date(2026, 3, 1), date(2026, 3, 2))
    assert [(x["day"], x["model"], x["requests"], x["input_tokens"], x["cost_usd"]) for x in rows] == [
        ("2026-03-02", "openai/gpt-4o", 1, 10, 0.5), ("2026-03-02", "openai/gpt-4o-mini", 2, 20, 1.0)]


def test_providers_come_in_fallback_order_with_circuit_and_the_tenants_own_key_quota(r):
    master = new_master_key()
    settings = load_settings({"ENCRYPTION_MASTER_KEY": master, "OPENAI_RPM": "60",
                              "ANTHROPIC_API_KEY": "sk-ant-operator-0123456789"})
    Vault(r, master).set("acme", "openai", "sk-own-0123456789abcdef")
    r.set(constants.FALLBACK_ORDER, json.dumps(["google", "openai"]))
    r.hset(constants.circuit("google"), mapping={"state": "open", "until": 2e12})
    found = overview(r, settings, TenantRecord(name="acme", key_hash="x", key_hint="mlm_…", shared_keys=False))
    assert [p["id"] for p in found][:2] == ["google", "openai"] and len(found) == len(SPECS)
    by_id = {p["id"]: p for p in found}
    assert by_id["google"]["circuit"] == "open" and by_id["openai"]["circuit"] == "closed"
    assert by_id["openai"]["quota"]["windows"] == [{"name": "rpm", "used": 0, "limit": 60, "window_s": 60.0}]
    assert by_id["anthropic"]["quota"] is None  # the operator's key is not this tenant's to use
    assert "sk-own" not in json.dumps(found)


def test_a_tenant_with_shared_keys_sees_the_operators_key_quota(r):
    settings = load_settings({"ANTHROPIC_API_KEY": "sk-ant-operator-0123456789"})
    shared = TenantRecord(name="acme", key_hash="x", key_hint="mlm_…", shared_keys=True)
    assert key_for(r, settings, shared, "anthropic") == "sk-ant-operator-0123456789"
    assert key_for(r, settings, shared, "grok") is None


def test_matrix_page_embeds_rows_that_cannot_close_its_script():
    page = matrix_page({"id": "b1", "rows": [row("a", text="</script><script>alert(1)</script>")]}, "t")
    data = re.search(r"<script type='application/json' id='batch-data'>(.*?)</script>", page, re.S)
    assert data is not None and json.loads(data.group(1))["rows"][0]["response"]["body"]["choices"][0]["message"][
        "content"] == "</script><script>alert(1)</script>"
    assert "export {" not in page and "function renderBatch" in page


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))
def test_embedded_json_never_contains_a_tag_opening_and_reads_back_the_same(value):
    text = _embedded_json(value)
    assert "<" not in text and json.loads(text) == value


@pytest.mark.parametrize(("query", "days"), [(b"", 7), (b"days=1", 1), (b"days=90", 90)])
def test_usage_days_default_to_a_week_and_accept_one_to_ninety(query, days):
    assert days_param(Request({"type": "http", "query_string": query, "headers": []})) == days


@pytest.mark.parametrize("query", [b"days=0", b"days=91", b"days=-1", b"days=week"])
def test_usage_days_out_of_range_are_a_400_naming_the_field(query):
    with pytest.raises(GatewayError) as refused:
        days_param(Request({"type": "http", "query_string": query, "headers": []}))
    assert refused.value.status == 400 and refused.value.param == "days"
