"""The response cache: which jobs may use it, the normalised key, limits and statistics (fakeredis)."""

from __future__ import annotations

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common import constants
from multillm.common.cache import CachedAnswer, ResponseCache, mode_for, request_key
from multillm.common.errors import ConfigurationError
from multillm.common.jobs import Job
from multillm.common.schemas import ChatOptions, Message, ProviderEvent
from multillm.common.settings import load_settings
from multillm.producers.client import cache_mode


def job(cache: str | None = None, tenant: str = "default", **options: object) -> Job:
    return Job(provider="openai", model="gpt-4o-mini", messages=[Message(role="user", content="hi")], cache=cache,
               tenant=tenant, options=options)


def answer(text: str = "hello") -> CachedAnswer:
    return CachedAnswer(provider="openai", model="gpt-4o-mini", stored_at=0.0,
                        events=[ProviderEvent(type="delta", text=text), ProviderEvent(type="finish", finish_reason="stop")])


def test_cache_is_used_at_temperature_zero_when_asked_or_for_a_listed_tenant() -> None:
    s = load_settings({"MULTILLM_CACHE_TENANTS": "acme, globex"})
    assert s.cache_tenants == ["acme", "globex"]
    assert mode_for(job("on", temperature=0), s) == "on"
    assert mode_for(job(None, tenant="acme", temperature=0), s) == "on"
    assert mode_for(job(None, temperature=0), s) is None
    assert mode_for(job("off", tenant="acme", temperature=0), s) is None


def test_cache_is_not_used_above_temperature_zero_or_unset_unless_always() -> None:
    s = load_settings({})
    assert mode_for(job("on", temperature=0.5), s) is None
    assert mode_for(job("on"), s) is None  # unset: the provider's default temperature, above 0
    assert mode_for(job("always", temperature=1.2), s) == "always"


def test_cache_argument_accepts_booleans_and_the_three_modes_and_names_the_field() -> None:
    assert [cache_mode(v) for v in (None, True, False, "always")] == [None, "on", "off", "always"]
    with pytest.raises(ConfigurationError, match="cache"):
        cache_mode("sometimes")


def test_key_ignores_stream_and_spelling_of_defaults_but_not_options_that_change_the_answer() -> None:
    messages = [Message(role="user", content="hi")]
    base = request_key("openai", "gpt-4o-mini", messages, ChatOptions(temperature=0))
    assert base == request_key("openai", "gpt-4o-mini", [Message(role="user", content="hi", tool_calls=[])],
                               ChatOptions(temperature=0.0, stream=False))
    changed = [ChatOptions(temperature=0, max_tokens=5), ChatOptions(temperature=0, system_prompt="x"),
               ChatOptions(temperature=0, stop=["."]), ChatOptions(temperature=0, json_mode=True)]
    assert base not in {request_key("openai", "gpt-4o-mini", messages, o) for o in changed}
    assert base != request_key("openai", "gpt-4o", messages, ChatOptions(temperature=0))
    assert base != request_key("openrouter", "gpt-4o-mini", messages, ChatOptions(temperature=0))


@given(st.text(min_size=1, max_size=200), st.text(min_size=1, max_size=200))
def test_different_messages_never_share_a_key(a: str, b: str) -> None:
    key = lambda text: request_key("openai", "m", [Message(role="user", content=text)], ChatOptions())  # noqa: E731
    assert (key(a) == key(b)) == (a == b)


@pytest.fixture
def cache() -> ResponseCache:
    s = load_settings({"MULTILLM_CACHE_MAX_ENTRIES": "2", "MULTILLM_CACHE_MAX_ENTRY_BYTES": "2000",
                       "MULTILLM_CACHE_TTL_S": "600"})
    return ResponseCache(fakeredis.FakeRedis(), s)


def test_an_answer_is_stored_per_tenant_with_its_ttl_and_events_in_order(cache: ResponseCache) -> None:
    assert cache.put("acme", "d1", answer())
    found = cache.get("acme", "d1")
    assert found is not None and [e.type for e in found.events] == ["delta", "finish"]
    assert cache.get("globex", "d1") is None
    assert 590 < cache.redis.ttl(constants.cache_entry("acme", "d1")) <= 600


def test_the_oldest_entries_go_beyond_the_tenant_limit_and_large_answers_are_not_stored(cache: ResponseCache) -> None:
    for digest in ("d1", "d2", "d3"):
        cache.put("acme", digest, answer())
    assert cache.get("acme", "d1") is None and cache.get("acme", "d3") is not None
    assert not cache.put("acme", "big", answer("x" * 5000))
    assert cache.get("acme", "big") is None


def test_stats_count_hits_misses_and_stores_and_clear_empties_the_tenant(cache: ResponseCache) -> None:
    cache.put("acme", "d1", answer())
    cache.get("acme", "d1")
    cache.get("acme", "nope")
    stats = cache.stats("acme")
    assert (stats["entries"], stats["hits"], stats["misses"], stats["stores"], stats["hit_rate"]) == (1, 1, 1, 1, 0.5)
    assert cache.tenants() == ["acme"]
    assert cache.clear("acme") == 1
    assert cache.stats("acme")["entries"] == 0 and cache.tenants() == []
