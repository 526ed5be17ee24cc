"""The shared model-list cache on fakeredis, providers answering through httpx.MockTransport."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import fakeredis
import httpx
import pytest

from multillm.common.errors import UnknownModelError
from multillm.common.model_list import MODELS_TTL_S, ModelLists, list_key, listed_model
from multillm.common.providers import create_provider

KEY = "sk-test-" + "k" * 24


def provider(handler, provider_id: str = "openai", key: str = KEY):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return create_provider(provider_id, key, base_url="https://api.example.test/v1", client=client)


def listing(ids: list[str], calls: list[int]):
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json={"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})
    return handler


def test_many_concurrent_lookups_fetch_the_list_once_and_cache_it_for_an_hour():
    r, calls = fakeredis.FakeRedis(), []
    lists = ModelLists(r)
    with ThreadPoolExecutor(16) as pool:
        found = list(pool.map(lambda _: lists.get(provider(listing(["gpt-5", "gpt-4o"], calls)), KEY), range(64)))
    assert calls == [1] and all([m.id for m in f] == ["gpt-5", "gpt-4o"] for f in found)
    assert MODELS_TTL_S - 5 < r.ttl(list_key("openai", "https://api.example.test/v1", KEY)) <= MODELS_TTL_S


def test_the_key_is_hashed_never_stored_and_each_key_has_its_own_list():
    r = fakeredis.FakeRedis()
    lists = ModelLists(r)
    lists.get(provider(listing(["a"], [])), KEY)
    lists.get(provider(listing(["b"], []), key="sk-other-" + "o" * 24), "sk-other-" + "o" * 24)
    keys = [k.decode() for k in r.keys("*")]
    assert len(keys) == 2 and not any(KEY in k or "sk-other" in k for k in keys)
    assert all(KEY.encode() not in r.get(k) for k in keys)


def test_an_unlisted_id_is_refused_naming_the_closest_ids():
    models = ModelLists(fakeredis.FakeRedis()).get(provider(listing(["gpt-5", "gpt-5-mini", "o3"], [])), KEY)
    assert listed_model("OpenAI", "gpt-5", models).id == "gpt-5"
    with pytest.raises(UnknownModelError, match=r"'gpt5-mini' is not in OpenAI's model list .*closest: gpt-5-mini"):
        listed_model("OpenAI", "gpt5-mini", models)


def test_an_unreachable_list_lets_the_call_go_ahead_with_a_warning_and_is_not_asked_per_job(caplog):
    calls: list[int] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"error": {"message": "down"}})
    lists = ModelLists(fakeredis.FakeRedis())
    with caplog.at_level(logging.WARNING, logger="multillm.models"):
        for _ in range(5):
            assert listed_model("OpenAI", "anything", lists.get(provider(down), KEY)) is None
    assert len(calls) == 1  # the failure is remembered for a minute
    assert "model list unavailable" in caplog.text and KEY not in caplog.text


def test_a_server_that_lists_nothing_checks_nothing():
    assert ModelLists(fakeredis.FakeRedis()).get(provider(listing([], [])), KEY) is None
