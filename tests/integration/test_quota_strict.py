"""Quotas against a strict server of our own in a separate process (it counts each request at arrival in
a sliding window, no margin), with a busy-loop process keeping the machine busy beside the workers."""

from __future__ import annotations

import pytest

from multillm.producers.bench.strict import Scenario, run_scenario

pytestmark = pytest.mark.integration

LIMIT, WINDOW_MS, WINDOWS = 20, 5_000, 3
JOBS = LIMIT * WINDOWS + LIMIT // 2  # enough to keep every window full while it is measured


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("mode", ["strict", "quantized"])
def test_a_strict_server_never_refuses_and_its_quota_is_used(mode, workers, tmp_path):
    """`strict`: the server's exact window configured (<PREFIX>_RATE_LIMIT_*); `quantized`: only
    <PREFIX>_RPM, which the server enforces per 5 s window."""
    figures = run_scenario(Scenario(mode, workers, LIMIT, WINDOW_MS, JOBS), log_dir=tmp_path, measure_windows=WINDOWS)
    assert figures["succeeded"] == JOBS
    assert figures["429s"] == 0 and figures["peak"] <= LIMIT
    assert figures["share"] >= 0.95, figures


@pytest.mark.parametrize(("provider", "headers"), [("openai", "openai"), ("anthropic", "anthropic")])
def test_with_nothing_configured_the_providers_headers_teach_the_limit(provider, headers, tmp_path):
    figures = run_scenario(Scenario("learned", 2, 50, WINDOW_MS, 300, provider=provider, headers=headers),
                           log_dir=tmp_path)
    assert figures["succeeded"] == 300
    assert figures["429s_after_10"] == 0, figures
