"""`multillm quotas` figures and the quota benchmark table, from a quota state on fakeredis."""

from __future__ import annotations

import fakeredis
from rich.console import Console

from multillm.common.quota import Quota, QuotaRule, Window
from multillm.common.ratelimit_headers import RateLimitInfo
from multillm.producers.bench.tables import quota_table
from multillm.producers.cli.quotas import _figures, _provider_table, _windows_table


def rendered(table) -> str:
    console = Console(width=250, record=True)
    console.print(table)
    return console.export_text()


def test_quotas_show_the_providers_view_and_a_corrected_limit():
    quota = Quota(fakeredis.FakeRedis())
    rule = QuotaRule("openai", "k1", (Window("rpm", 10, 60_000),))
    assert quota.acquire(rule, "a", 1).granted
    quota.settle(rule, "a", RateLimitInfo(limit_requests=4, remaining_requests=3, reset_requests=60.0))
    quota._views.clear()
    figures = _figures(quota, rule)
    (rpm,) = figures["windows"]
    assert (rpm["name"], rpm["limit"], rpm["configured"]) == ("rpm", 4, 10)
    assert figures["corrections"] == {"rpm": "10>4"}
    assert figures["provider_says"]["requests"]["remaining"] == 3
    assert "last_delay_ms" in figures["response_delay_ms"]
    assert "configured 10, above the provider's" in rendered(_windows_table([figures]))
    assert "requests" in rendered(_provider_table([figures]))


def test_a_key_with_nothing_configured_shows_it_is_learning():
    quota = Quota(fakeredis.FakeRedis())
    figures = _figures(quota, QuotaRule("anthropic", "k2", (), learn=True))
    assert "learning from headers" in rendered(_windows_table([figures]))


def test_the_quota_table_shows_late_429s_of_learned_runs():
    rows = [{"system": "multillm learned (openai headers)", "workers": 2, "succeeded": 300, "429s": 1,
             "429s_after_10": 0, "peak": 30, "limit": 30, "share": 0.97},
            {"system": "litellm quantized", "workers": 1, "error": "litellm not installed"}]
    text = quota_table(rows)
    assert "| 1 (0 after the first 10 responses) | 30 / 30 | 97% |" in text and "failed: litellm not installed" in text
