"""The simulator server over loopback HTTP: credentials, the providers' refusals, quota, faults,
timing, the control API, and a stop that ends stalled streams and frees the port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from multillm.common.providers import SPECS as CATALOG
from multillm.producers.cli.simulate import simulate
from multillm.producers.simulator import SimulatorConfig, SimulatorServer, base_urls, count_tokens
from multillm.producers.simulator.providers import PROVIDERS as SPECS

AUTH = {"openai": {"authorization": "Bearer k"}, "anthropic": {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        "gemini": {"x-goog-api-key": "k"}}


def headers_for(provider: str) -> dict[str, str]:
    return AUTH.get(SPECS[provider].protocol, AUTH["openai"])


def chat_request(sim: SimulatorServer, provider: str, text: str = "hello", *, stream: bool = False,
                 model: str | None = None, **extra: Any) -> tuple[str, dict[str, Any]]:
    """(URL, body) of a chat request in the provider's format."""
    spec, base = SPECS[provider], sim.base_urls()[provider]
    model = model or spec.default_model
    if spec.protocol == "gemini":
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base}/models/{model}:{method}", {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream, **extra}
    if spec.protocol == "anthropic":
        body.setdefault("max_tokens", 100)
    return base + spec.chat_path, body


def post(sim: SimulatorServer, provider: str, text: str = "hello", headers: dict[str, str] | None = None,
         **kw: Any) -> httpx.Response:
    url, body = chat_request(sim, provider, text, **kw)
    return httpx.post(url, json=body, headers={**headers_for(provider), **(headers or {})}, timeout=10)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(host="127.0.0.1", port=0, config=SimulatorConfig(ttft_ms=0, tokens_per_second=0)) as server:
        yield server


@pytest.fixture
def fresh(sim: SimulatorServer) -> Iterator[SimulatorServer]:
    """The shared server with its config, stats and quota windows restored afterwards."""
    before = sim.simulator.config
    sim.reset()
    yield sim
    sim.simulator.config = before
    sim.reset()


@pytest.mark.parametrize("provider", list(SPECS))
def test_every_request_needs_credentials(sim, provider):
    url, body = chat_request(sim, provider)
    response = httpx.post(url, json=body)
    assert response.status_code == (403 if provider == "google" else 401)
    assert post(sim, provider).status_code == 200


def test_anthropic_needs_its_version_header(sim):
    response = post(sim, "anthropic", headers={"anthropic-version": ""})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_models_lists_need_credentials_too(sim, provider):
    url = sim.base_urls()[provider] + SPECS[provider].models_path
    assert httpx.get(url, headers=headers_for(provider)).status_code == 200
    invalid = {name: value.replace("k", "invalid") for name, value in headers_for(provider).items()}
    assert httpx.get(url, headers=invalid).status_code in (400, 401)


def test_anthropic_without_max_tokens_or_messages_is_refused(sim):
    url, body = chat_request(sim, "anthropic")
    del body["max_tokens"]
    response = httpx.post(url, json=body, headers=AUTH["anthropic"])
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    assert post(sim, "anthropic", messages=[]).status_code == 400


@pytest.mark.parametrize("provider", ["openai", "google", "grok"])
def test_empty_messages_or_a_broken_body_are_refused(sim, provider):
    url, body = chat_request(sim, provider)
    body["contents" if provider == "google" else "messages"] = []
    assert httpx.post(url, json=body, headers=headers_for(provider)).status_code == 400
    assert httpx.post(url, content=b"{not json", headers=headers_for(provider)).status_code == 400


@pytest.mark.parametrize(("provider", "model", "check"), [
    ("openai", "gpt-4", lambda r: r.json()["error"]["code"] == "context_length_exceeded"),
    ("llama", "meta-llama/Llama-2-70b-chat-hf", lambda r: r.json()["error"]["code"] == "context_length_exceeded"),
    ("anthropic", "claude-2.1", lambda r: "prompt is too long" in r.json()["error"]["message"]),
    ("google", "gemini-pro-vision", lambda r: r.json()["error"]["status"] == "INVALID_ARGUMENT"),
])
def test_a_prompt_beyond_the_context_length_is_refused(sim, provider, model, check):
    # The OpenAI wire counts o200k tokens as OpenAI does: "word " * n is n + 8 with the chat's overhead.
    limit = SPECS[provider].model(model).context_length - (8 if SPECS[provider].protocol == "openai" else 0)
    assert post(sim, provider, "word " * limit, model=model).status_code == 200
    response = post(sim, provider, "word " * (limit + 1), model=model)
    assert response.status_code == 400 and check(response)


def test_an_unknown_fault_is_a_400_naming_the_known_ones(sim):
    response = post(sim, "openai", headers={"x-simulator-fault": "stal"})
    assert response.status_code == 400 and "stall_mid" in response.json()["error"]["message"]


def test_quota_headers_then_a_429_with_retry_after(fresh):
    fresh.configure(quota_rpm=2)
    first = post(fresh, "openai")
    assert first.headers["x-ratelimit-limit-requests"] == "2" and first.headers["x-ratelimit-remaining-requests"] == "1"
    assert post(fresh, "openai").headers["x-ratelimit-remaining-requests"] == "0"
    refused = post(fresh, "openai")
    assert refused.status_code == 429 and 58 <= float(refused.headers["retry-after-ms"]) / 1000 <= 60
    assert post(fresh, "openai", headers={"authorization": "Bearer other"}).status_code == 200  # per key
    assert post(fresh, "anthropic").headers["anthropic-ratelimit-requests-remaining"] == "1"  # per provider
    assert fresh.stats()["rate_limited"] == {"openai": 1}
    fresh.reset()
    assert post(fresh, "openai").status_code == 200


def test_token_quota_counts_the_prompt_and_max_tokens(fresh):
    fresh.configure(provider_quotas={"grok": {"tpm": 110}})
    prompt = "two words"  # 9 prompt tokens on the OpenAI wire: 2 in o200k, 7 of chat overhead
    assert post(fresh, "grok", prompt, max_tokens=40).headers["x-ratelimit-remaining-tokens"] == "61"
    assert post(fresh, "grok", prompt, max_tokens=40).headers["x-ratelimit-remaining-tokens"] == "12"
    assert post(fresh, "grok", prompt, max_tokens=40).status_code == 429
    assert post(fresh, "grok", prompt, max_tokens=3).status_code == 200


def test_faults_by_rate_are_counted(fresh):
    fresh.configure(fault_rate=1.0, faults=["502"])
    assert [post(fresh, "openrouter").status_code for _ in range(3)] == [502] * 3
    assert fresh.stats()["faults"] == {"502": 3}


def test_a_provider_forced_to_fail_fails_its_model_list_too(fresh):
    fresh.configure(provider_faults={"google": ["503"], "openai": ["drop"]})
    assert httpx.get(fresh.base_urls()["google"] + "/models", headers=AUTH["gemini"]).status_code == 503
    assert httpx.get(fresh.base_urls()["openai"] + "/models", headers=AUTH["openai"]).status_code == 200


def test_timing_headers_delay_the_first_token_and_pace_the_rest(sim):
    url, body = chat_request(sim, "openai", stream=True, max_tokens=10)
    started = time.monotonic()
    with httpx.stream("POST", url, json=body, headers={**AUTH["openai"], "x-simulator-ttft-ms": "300"}) as response:
        next(response.iter_raw())
        assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    with httpx.stream("POST", url, json=body, headers={**AUTH["openai"], "x-simulator-tps": "50"}) as response:
        text = response.read().decode()
    assert time.monotonic() - started >= 9 / 50 and text.endswith("data: [DONE]\n\n")


def test_drop_closes_the_connection_after_a_few_chunks(sim):
    url, body = chat_request(sim, "openai", "[[fault:drop]]", stream=True)
    received = []
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("POST", url, json=body, headers=AUTH["openai"]) as r:
        received.extend(line for line in r.iter_lines() if line.startswith("data: "))
    assert len(received) == 1 + 3  # the role chunk and fault_after_chunks tokens


def test_stall_mid_sends_a_few_chunks_then_nothing_until_the_client_gives_up(fresh):
    url, body = chat_request(fresh, "anthropic", "[[fault:stall_mid]]", stream=True)
    received = []
    with pytest.raises(httpx.ReadTimeout), httpx.stream("POST", url, json=body, headers=AUTH["anthropic"],
                                                        timeout=httpx.Timeout(5, read=0.5)) as r:
        received.extend(line for line in r.iter_lines() if line == "event: content_block_delta")
    assert len(received) == 3
    wait_until(lambda: fresh.stats()["concurrent_streams"] == 0)  # the abandoned stall ended with its client


def test_stream_faults_without_a_stream(sim):
    assert post(sim, "grok", "[[fault:midstream_error]]").json()["code"] == "Internal error"  # xAI: HTTP 200
    assert post(sim, "anthropic", "[[fault:midstream_error]]").status_code == 529
    malformed = post(sim, "openai", "[[fault:malformed]]")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    with pytest.raises(httpx.RemoteProtocolError):
        post(sim, "google", "[[fault:drop]]")


def test_control_api_merges_config_and_resets_stats(fresh):
    root = fresh.url + "/_simulator"
    assert httpx.put(root + "/config", json={"ttft_ms": 7, "faults": ["500"]}).json()["ttft_ms"] == 7
    assert httpx.get(root + "/config").json()["faults"] == ["500"]
    refused = httpx.put(root + "/config", json={"faults": ["nope"]})
    assert refused.status_code == 400 and "faults" in refused.json()["error"]
    assert httpx.get(root + "/config").json()["faults"] == ["500"]  # a refused change changes nothing
    post(fresh, "github")
    assert httpx.get(root + "/stats").json()["requests"] == {"github": 1}
    assert httpx.post(root + "/reset").json() == {"ok": True}
    assert httpx.get(root + "/stats").json()["requests"] == {}


def test_concurrent_streams_are_counted(fresh):
    url, body = chat_request(fresh, "openai", stream=True, max_tokens=3)

    async def streams(n: int) -> list[str]:
        async with httpx.AsyncClient(timeout=10) as client:
            async def one() -> str:
                r = await client.post(url, json=body, headers={**AUTH["openai"], "x-simulator-ttft-ms": "400"})
                return r.text
            return await asyncio.gather(*(one() for _ in range(n)))

    texts = asyncio.run(streams(40))
    assert all(t.endswith("data: [DONE]\n\n") for t in texts)
    stats = fresh.stats()
    assert stats["peak_concurrent_streams"] == 40 and stats["concurrent_streams"] == 0


def test_stop_ends_stalled_streams_promptly_and_frees_the_port():
    server = SimulatorServer(config=SimulatorConfig(ttft_ms=0)).start()
    port = server.port
    url, body = chat_request(server, "openai", "[[fault:stall]]", stream=True)
    outcome: list[BaseException | None] = []

    def stalled() -> None:
        try:
            with httpx.stream("POST", url, json=body, headers=AUTH["openai"], timeout=30) as response:
                response.read()
            outcome.append(None)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=stalled)
    thread.start()
    wait_until(lambda: server.stats()["concurrent_streams"] == 1)
    started = time.monotonic()
    server.stop()
    thread.join(5)
    assert outcome and time.monotonic() - started < 3
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_print_env_points_every_provider_at_the_simulator():
    app = typer.Typer()
    app.command()(simulate)
    result = CliRunner().invoke(app, ["--print-env", "--port", "8123"])
    assert result.exit_code == 0
    urls = base_urls("http://127.0.0.1:8123")
    for provider, spec in CATALOG.items():  # the CLI speaks multillm's variable names
        assert f"export {spec.base_url_env}={urls[provider]}" in result.output
    assert count_tokens(result.output) == 2 * len(CATALOG) * 2


@pytest.mark.parametrize(("provider", "status", "check"), [
    ("openai", 404, lambda b: b["error"]["code"] == "model_not_found"),
    ("anthropic", 404, lambda b: b["error"]["type"] == "not_found_error"),
    ("google", 404, lambda b: b["error"]["status"] == "NOT_FOUND"),
    ("openrouter", 400, lambda b: b["error"]["code"] == 400),
    ("llama", 404, lambda b: b["error"]["code"] == "model_not_found"),
    ("grok", 404, lambda b: b["code"] == "Some requested entity was not found"),
    ("github", 400, lambda b: b["error"]["code"] == "unknown_model"),
])
def test_an_id_the_simulator_does_not_list_is_refused_in_the_providers_shape(sim, provider, status, check):
    response = post(sim, provider, model="no-such-model-anywhere")
    assert response.status_code == status and check(response.json())


def test_the_simulator_lists_models_the_catalogue_never_names(sim):
    for provider, model in (("openai", "gpt-5"), ("openrouter", "deepseek/deepseek-chat"), ("google", "gemma-3-27b-it")):
        assert CATALOG[provider].find_model(model) is None and SPECS[provider].find_model(model) is not None
        assert post(sim, provider, model=model).status_code == 200


def test_the_simulator_imports_nothing_from_multillms_provider_code():
    import pathlib

    root = pathlib.Path(__file__).parents[2] / "producers" / "simulator"
    for path in root.glob("*.py"):
        assert "multillm.common" not in path.read_text(), path.name
