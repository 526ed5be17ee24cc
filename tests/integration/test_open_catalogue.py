"""Any model id, through the queues and `--direct`, against the simulator's own model lists: ids the
catalogue never names work on all seven providers, an unlisted id is refused naming the closest, the
list is fetched once per hour however many jobs run, a self-hosted server's own names work through
the Llama provider, costs follow genai-prices (OpenRouter's reported cost as is), and counts before
the call match what the OpenAI wire bills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from multillm.common.errors import UnknownModelError
from multillm.common.providers import SPECS
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import start_redis, stop
from multillm.producers.local.system import EmbeddedSystem
from multillm.producers.simulator import base_urls
from multillm.producers.simulator.config import SIMULATED_KEY

from .conftest import make_system, settings_for
from .self_hosted import SelfHostedServer

# Ids the simulator lists that multillm's catalogue does not name.
UNCATALOGUED = {"openai": "gpt-5", "anthropic": "claude-haiku-4-5", "google": "gemma-3-27b-it",
                "openrouter": "deepseek/deepseek-chat", "llama": "Qwen/Qwen2.5-7B-Instruct", "grok": "grok-4-fast",
                "github": "deepseek/DeepSeek-V3-0324"}
SAMPLE = Path(__file__).parents[2] / "producers" / "batch" / "data" / "sample.jsonl"


@pytest.fixture(scope="module")
def running(own_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSystem]:
    with make_system(own_redis, tmp_path_factory.mktemp("logs"), one_worker=True) as system:
        yield system


@pytest.fixture
def client(running: EmbeddedSystem) -> Iterator[MultiLLM]:
    with MultiLLM(running.redis_url, settings=settings_for(running.redis_url)) as c:
        yield c


def sim_stats(system: EmbeddedSystem) -> dict:
    return httpx.get(f"{system.simulator_url}/_simulator/stats", timeout=5).json()


def forget_model_lists(system: EmbeddedSystem) -> None:
    r = redis.Redis.from_url(system.redis_url)
    for key in r.scan_iter("multillm:models:*"):
        r.delete(key)


def cli(system: EmbeddedSystem, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line in its own process, every provider pointed at the system's simulator."""
    env = {**os.environ, "LOG_LEVEL": "warning", "REDIS_URL": system.redis_url}
    for provider, url in base_urls(system.simulator_url or "").items():
        env[SPECS[provider].base_url_env] = url
        env[SPECS[provider].api_key_env] = SIMULATED_KEY
    return subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize("provider", list(SPECS))
def test_an_uncatalogued_id_the_provider_lists_answers_through_the_queue(client, provider):
    model = UNCATALOGUED[provider]
    assert SPECS[provider].find_model(model) is None
    result = client.submit(provider, "Name three rivers", model=model, max_tokens=8).result(timeout=60)
    assert result.status == "succeeded", result.error
    assert result.model == model and result.usage.output_tokens == 8


@pytest.mark.parametrize("provider", list(SPECS))
def test_an_uncatalogued_id_answers_direct(running, provider):
    done = cli(running, "chat", "--direct", "-p", provider, "-m", UNCATALOGUED[provider], "--max-tokens", "5",
               "Name three rivers")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 5


def test_an_unlisted_id_is_refused_naming_the_closest_ids(client, running):
    result = client.submit("openrouter", "Hi", model="deepseek/deepseek-chatt", max_tokens=8).result(timeout=60)
    assert result.status == "failed" and result.error["code"] == "unknown_model"
    assert "closest: deepseek/deepseek-chat" in result.error["message"]
    done = cli(running, "chat", "--direct", "-p", "openai", "-m", "gpt-5o", "Hi")
    assert done.returncode != 0 and "'gpt-5o' is not in OpenAI's model list" in done.stderr
    assert "closest: gpt-5" in done.stderr


def test_a_producer_with_the_key_refuses_an_unlisted_id_before_enqueueing(running):
    env = {SPECS["openai"].api_key_env: SIMULATED_KEY, SPECS["openai"].base_url_env: base_urls(running.simulator_url)["openai"]}
    r = redis.Redis.from_url(running.redis_url)
    before = r.llen("multillm.openai")
    with MultiLLM(running.redis_url, settings=settings_for(running.redis_url, env)) as keyed:
        with pytest.raises(UnknownModelError, match="closest: gpt-5"):
            keyed.submit("openai", "Hi", model="gpt-5o")
        assert keyed.submit("openai", "Hi", model="gpt-5", max_tokens=3).result(timeout=60).status == "succeeded"
    assert r.llen("multillm.openai") == before


def test_auto_routing_skips_a_provider_whose_cached_list_lacks_the_tiers_model(running):
    urls = base_urls(running.simulator_url)
    env = {SPECS["openai"].api_key_env: SIMULATED_KEY, SPECS["openai"].base_url_env: urls["openai"],
           SPECS["google"].api_key_env: SIMULATED_KEY, SPECS["google"].base_url_env: urls["google"],
           "MULTILLM_TIERS": json.dumps({"fast": {"openai": "gpt-5o", "google": "gemma-3-27b-it"}})}
    with MultiLLM(running.redis_url, settings=settings_for(running.redis_url, env)) as keyed:
        keyed.model_facts("openai", "gpt-5")  # the openai list is now in the shared cache
        assert keyed.route("auto", None, "fast", "cost") == ("google", "gemma-3-27b-it")


def test_the_model_list_is_fetched_once_however_many_jobs_run(client, running):
    forget_model_lists(running)
    before = sim_stats(running)["model_lists"].get("grok", 0)
    handles = [client.submit("grok", f"Question {i}", model="grok-4-fast", max_tokens=4) for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda h: h.result(timeout=60), handles))
    assert all(r.status == "succeeded" for r in results)
    assert sim_stats(running)["model_lists"]["grok"] - before == 1
    ttl = redis.Redis.from_url(running.redis_url).ttl(next(redis.Redis.from_url(running.redis_url)
                                                           .scan_iter("multillm:models:grok:*")))
    assert 3500 < ttl <= 3600


def test_costs_follow_genai_prices_and_openrouters_reported_cost(client):
    for provider, model, genai_provider in (("openai", "gpt-5", "openai"), ("anthropic", "claude-sonnet-4-5", "anthropic"),
                                            ("google", "gemini-2.5-pro", "google")):
        result = client.submit(provider, "Name three rivers", model=model, max_tokens=10).result(timeout=60)
        usage = PriceUsage(input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens)
        expected = float(calc_price(usage, model, provider_id=genai_provider).total_price)
        assert result.cost_usd == pytest.approx(expected, rel=1e-6) and result.cost_usd > 0
    routed = client.submit("openrouter", "Name three rivers", model="deepseek/deepseek-chat", max_tokens=10)
    result = routed.result(timeout=60)
    reported = (result.usage.input_tokens + result.usage.output_tokens) * 1e-7  # the simulator's usage.cost
    assert result.cost_usd == pytest.approx(reported, rel=1e-6)


def test_a_model_with_no_known_price_has_a_null_cost(client):
    result = client.submit("llama", "Hi", model="Qwen/Qwen2.5-7B-Instruct", max_tokens=4).result(timeout=60)
    assert result.status == "succeeded" and result.cost_usd is None


def test_counts_before_the_call_are_within_two_percent_of_the_openai_wire(client):
    prompts = [json.loads(line)["prompt"] for line in SAMPLE.read_text().splitlines() if line.strip()]
    for prompt in prompts:
        counted = client.count_tokens("openai", prompt, model="gpt-5")
        billed = client.submit("openai", prompt, model="gpt-5", max_tokens=4).result(timeout=60).usage.input_tokens
        assert counted.method == "o200k_base" and abs(counted.tokens - billed) <= 0.02 * billed


@pytest.fixture
def lone_redis() -> Iterator[str]:
    """A Redis no other system's workers consume from."""
    process, url = start_redis()
    yield url
    stop([process])


def test_a_self_hosted_servers_own_names_work_through_the_llama_provider(lone_redis, tmp_path):
    names = ["gemma", "llama3.2:1b", "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"]
    with SelfHostedServer(names) as server:
        env = {"HUGGING_FACE_BASE_URL": server.base_url}  # no key: a local server needs none, and gets none
        with make_system(lone_redis, tmp_path, providers=["llama"], env=env) as system, \
                MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as c:
            assert system.simulated == []
            for name in names:
                result = c.submit("llama", "Say hello", model=name, max_tokens=6).result(timeout=60)
                assert result.status == "succeeded", result.error
                assert result.text == f"hello from {name}" and result.cost_usd is None
            refused = c.submit("llama", "Say hello", model="gemma2", max_tokens=6).result(timeout=60)
            assert refused.error["code"] == "unknown_model" and "closest: gemma" in refused.error["message"]
        assert server.model_list_requests == 1 and server.authorizations == {None}
        direct = subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", "chat", "--direct", "-p", "llama",
                                 "-m", "llama3.2:1b", "hi"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, **env, "HUGGING_FACE_API_KEY": ""})
        assert direct.returncode == 0 and direct.stdout.strip() == "hello from llama3.2:1b", direct.stderr


def test_models_live_lists_what_the_provider_lists_with_the_source_of_each_fact(running):
    done = cli(running, "models", "-p", "openrouter", "--live", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    rows = {m["model"]: m for m in listed["models"]}
    assert listed["live"] and rows["deepseek/deepseek-chat"]["context_length"] == 163_840
    assert rows["deepseek/deepseek-chat"]["limits_source"] == "live list"
    assert rows["deepseek/deepseek-chat"]["price_source"] == "price data"
