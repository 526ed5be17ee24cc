"""The gateway's jobs API, tenant isolation and HTTP edges, over real HTTP to `multillm serve`
on real workers and the simulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from multillm.common import constants
from multillm.common.tenants import Tenants
from multillm.producers.local.system import EmbeddedSystem
from tests.integration.gateway_tenants import new_tenant

ASK = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Name three rivers"}], "max_tokens": 30}


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def read_events(response: httpx.Response, limit: int | None = None) -> Iterator[tuple[int, dict]]:
    """(SSE id, data) for each event; stops after `limit` events."""
    event_id, count = None, 0
    for line in response.iter_lines():
        if line.startswith("id:"):
            event_id = int(line[3:].strip())
        elif line.startswith("data:"):
            assert event_id is not None
            yield event_id, json.loads(line[5:].strip())
            count += 1
            if limit is not None and count >= limit:
                return


def wait_for(check, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.05)


@pytest.fixture
def tenant(system: EmbeddedSystem) -> tuple[str, str]:
    return new_tenant(system.redis_url)


def test_a_job_is_accepted_at_once_and_its_result_read_by_id(gateway, tenant):
    _, key = tenant
    accepted = httpx.post(f"{gateway}/v1/jobs", json={**ASK, "id": "report-1"}, headers=auth(key))
    assert accepted.status_code == 202 and accepted.json()["id"] == "report-1"
    done = wait_for(lambda: (r := httpx.get(f"{gateway}/v1/jobs/report-1", headers=auth(key)).json())["result"] and r)
    assert done["status"] == "succeeded" and done["result"]["text"] and done["result"]["job_id"] == "report-1"
    again = httpx.post(f"{gateway}/v1/jobs", json={**ASK, "id": "report-1"}, headers=auth(key))
    assert again.status_code == 202 and again.json() == {"id": "report-1", "object": "job", "status": "succeeded"}
    assert httpx.get(f"{gateway}/v1/jobs/report-1", headers=auth(key)).json()["result"]["attempts"] == 1


def test_events_cut_after_a_few_and_resumed_with_last_event_id_arrive_exactly_once(gateway, tenant):
    _, key = tenant
    job = httpx.post(f"{gateway}/v1/jobs", json={**ASK, "max_tokens": 60}, headers=auth(key)).json()["id"]
    url = f"{gateway}/v1/jobs/{job}/events"
    with httpx.stream("GET", url, headers=auth(key), timeout=30) as first:
        head = list(read_events(first, limit=4))
    with httpx.stream("GET", url, headers={**auth(key), "last-event-id": str(head[-1][0])}, timeout=30) as rest:
        tail = list(read_events(rest))
    seqs = [i for i, _ in head + tail]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(data["seq"] == i and data["job_id"] == job for i, data in head + tail)
    assert tail[-1][1]["type"] == "done"
    text = "".join(d["text"] for _, d in head + tail if d["type"] == "delta")
    assert text == tail[-1][1]["text"]


def test_curl_resumes_events_with_last_event_id(gateway, tenant):
    import subprocess

    _, key = tenant
    job = httpx.post(f"{gateway}/v1/jobs", json=ASK, headers=auth(key)).json()["id"]
    wait_for(lambda: httpx.get(f"{gateway}/v1/jobs/{job}", headers=auth(key)).json()["result"])
    out = subprocess.run(["curl", "-sN", "-H", f"Authorization: Bearer {key}", "-H", "Last-Event-ID: 3",
                          f"{gateway}/v1/jobs/{job}/events"], capture_output=True, text=True, timeout=30, check=True).stdout
    ids = [int(line[3:]) for line in out.splitlines() if line.startswith("id:")]
    assert ids[0] == 4 and ids == list(range(4, ids[-1] + 1))


def test_cancel_ends_the_callers_job(gateway, tenant):
    _, key = tenant
    job = httpx.post(f"{gateway}/v1/jobs", json={**ASK, "messages": [{"role": "user", "content": "x [[fault:stall]]"}]},
                     headers=auth(key)).json()["id"]
    cancelled = httpx.delete(f"{gateway}/v1/jobs/{job}", headers=auth(key)).json()
    assert cancelled["cancelled"] is True
    final = wait_for(lambda: (r := httpx.get(f"{gateway}/v1/jobs/{job}", headers=auth(key)).json())["status"] == "cancelled"
                     and r)
    assert final["result"]["status"] == "cancelled"


def test_another_tenant_can_neither_read_stream_cancel_nor_preclaim_a_job(system, gateway):
    owner, owner_key = new_tenant(system.redis_url)
    _, other_key = new_tenant(system.redis_url)
    job = httpx.post(f"{gateway}/v1/jobs", json={**ASK, "id": "shared-name"}, headers=auth(owner_key)).json()["id"]
    for method, path in (("GET", ""), ("GET", "/events"), ("DELETE", "")):
        refused = httpx.request(method, f"{gateway}/v1/jobs/{job}{path}", headers=auth(other_key))
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    # The same id from another tenant is that tenant's own job, not the owner's.
    theirs = httpx.post(f"{gateway}/v1/jobs", json={**ASK, "id": "shared-name", "max_tokens": 3}, headers=auth(other_key))
    assert theirs.status_code == 202
    mine = wait_for(lambda: (r := httpx.get(f"{gateway}/v1/jobs/{job}", headers=auth(owner_key)).json())["result"] and r)
    assert mine["result"]["tenant"] == owner and mine["result"]["usage"]["output_tokens"] == 30
    assert httpx.get(f"{gateway}/v1/jobs/{job}", headers=auth(owner_key)).json()["status"] == "succeeded"


def test_an_id_of_a_job_submitted_inside_the_network_is_not_found(gateway, tenant, client, raw_redis):
    name, key = tenant
    client.submit("openai", "Hi", max_tokens=3, job_id="plain-id", tenant=name)
    assert httpx.get(f"{gateway}/v1/jobs/plain-id", headers=auth(key)).status_code == 404


def test_a_missing_unknown_or_revoked_key_gets_401(system, gateway):
    name, key = new_tenant(system.redis_url)
    assert httpx.get(f"{gateway}/v1/models", headers=auth(key)).status_code == 200
    for headers in ({}, {"authorization": "Basic abc"}, auth("mlm_unknownunknownunknown")):
        refused = httpx.get(f"{gateway}/v1/models", headers=headers)
        assert refused.status_code == 401 and set(refused.json()["error"]) == {"message", "type", "param", "code"}
    Tenants(redis.Redis.from_url(system.redis_url)).revoke(name)
    assert httpx.post(f"{gateway}/v1/chat/completions", json=ASK, headers=auth(key)).status_code == 401


def test_a_tenant_without_shared_keys_needs_its_own_provider_key(system, gateway, raw_redis):
    name, key = new_tenant(system.redis_url, shared_keys=False)
    refused = httpx.post(f"{gateway}/v1/chat/completions", json=ASK, headers=auth(key))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "no_provider_key"
    assert not raw_redis.keys(constants.job(f"{name}:*"))


def test_a_body_over_the_limit_is_413_and_bad_json_400(gateway, tenant):
    _, key = tenant
    huge = {**ASK, "messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}]}
    assert httpx.post(f"{gateway}/v1/chat/completions", json=huge, headers=auth(key)).status_code == 413

    def chunked():  # no content-length: counted as it arrives
        yield b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(9):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    assert httpx.post(f"{gateway}/v1/chat/completions", content=chunked(), headers=auth(key)).status_code == 413
    bad = httpx.post(f"{gateway}/v1/chat/completions", content=b"{nope", headers=auth(key))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    unknown = httpx.post(f"{gateway}/v1/chat/completions", json={**ASK, "seed": 1}, headers=auth(key))
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "seed"


def test_a_tenant_over_its_request_limit_gets_429_with_retry_after(system):
    limited = system.start_gateway(env={"TENANT_RATE_LIMIT_ENABLED": "true", "TENANT_RATE_LIMIT_MAX_REQUESTS": "2",
                                        "TENANT_RATE_LIMIT_WINDOW_MS": "60000"})
    _, key = new_tenant(system.redis_url)
    codes = [httpx.post(f"{limited}/v1/jobs", json=ASK, headers=auth(key)) for _ in range(3)]
    assert [c.status_code for c in codes] == [202, 202, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1 and codes[-1].json()["error"]["code"] == "rate_limit_exceeded"


def test_every_response_has_a_request_id_and_security_headers(gateway, tenant):
    _, key = tenant
    given = httpx.get(f"{gateway}/v1/models", headers={**auth(key), "x-request-id": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    fresh = httpx.get(f"{gateway}/nowhere")
    assert fresh.status_code == 404 and len(fresh.headers["x-request-id"]) == 32
    for response in (given, fresh):
        assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-frame-options"] == "DENY"


def test_cors_allows_only_the_configured_origins(system):
    url = system.start_gateway(env={"CORS_ORIGINS": "https://app.example"})
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}
    allowed = httpx.options(f"{url}/v1/chat/completions", headers={"origin": "https://app.example", **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = httpx.options(f"{url}/v1/chat/completions", headers={"origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


def test_health_readiness_and_metrics_by_route_and_tenant(gateway, tenant):
    name, key = tenant
    assert httpx.get(f"{gateway}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gateway}/readyz").json() == {"status": "ready"}
    httpx.get(f"{gateway}/v1/models", headers=auth(key))
    metrics = httpx.get(f"{gateway}/metrics").text
    assert f'multillm_gateway_requests_total{{method="GET",route="/v1/models",status="200",tenant="{name}"}}' in metrics
    assert key not in metrics


def test_the_worker_also_refuses_the_operators_key_to_a_tenant_without_shared_keys(system, gateway, raw_redis):
    from multillm.common.vault import VAULT

    name, key = new_tenant(system.redis_url, shared_keys=False)
    raw_redis.hset(VAULT, f"{name}/openai", "v1.unreadable.x.y")  # passes the gateway's check; no worker can open it
    refused = httpx.post(f"{gateway}/v1/chat/completions", json=ASK, headers=auth(key), timeout=60)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "authentication"
    assert "no API key for tenant" in refused.json()["error"]["message"]


def test_gateways_share_nothing_but_redis_so_any_one_serves_any_job(system, gateway, tenant):
    _, key = tenant
    other = system.start_gateway()
    job = httpx.post(f"{gateway}/v1/jobs", json=ASK, headers=auth(key)).json()["id"]
    with httpx.stream("GET", f"{other}/v1/jobs/{job}/events", headers=auth(key), timeout=30) as response:
        events = list(read_events(response))
    assert events[-1][1]["type"] == "done"
    assert httpx.get(f"{other}/v1/jobs/{job}", headers=auth(key)).json()["status"] == "succeeded"
