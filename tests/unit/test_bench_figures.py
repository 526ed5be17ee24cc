"""The benchmark's own arithmetic: capacity streams long enough to be open at once and light enough to
publish; CPU per 1,000 chunks and its ratio to the direct client."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.producers.bench.throughput import _cpu_per_chunk, stream_shape


def test_up_to_a_thousand_streams_keep_the_forty_second_shape():
    assert stream_shape(1000) == (2.0, 80)
    assert stream_shape(64) == (2.0, 80)


@given(st.integers(min_value=1001, max_value=50_000))
def test_more_streams_last_longer_and_send_at_most_a_thousand_chunks_a_second(streams):
    tps, tokens = stream_shape(streams)
    assert tokens / tps >= streams / 30 - 1 / tps  # a start rate of 30 jobs/s still has all open at once
    assert streams * tps <= 1000 + 1e-6


def test_cpu_per_thousand_chunks_and_the_ratio_to_direct():
    per = _cpu_per_chunk({"multillm": 8.0, "direct": 4.0, "litellm": 16.0, "celery": 2.0, "redis": 1.0}, 16_000)
    assert per["multillm_cpu_s_per_1000_chunks"] == pytest.approx(0.5)
    assert per["direct_cpu_s_per_1000_chunks"] == pytest.approx(0.25)
    assert per["redis_cpu_s_per_1000_chunks"] == pytest.approx(1 / 16)
    assert per["multillm_cpu_ratio_to_direct"] == pytest.approx(2.0)
