"""The BENCHMARKS.md table of `multillm bench gateway --markdown`."""

from __future__ import annotations

from multillm.producers.bench.tables import gateway_table


def test_the_gateway_table_shows_every_path_and_the_added_latency():
    figures = {"jobs": 10, "gateway_added_p50_ms": 3.0, "gateway_added_p99_ms": 9.0, "litellm_proxy_added_p50_ms": 2.0,
               "litellm_proxy_added_p99_ms": 5.0}
    for name in ("direct", "python_api", "gateway", "litellm_proxy"):
        figures |= {f"{name}_p50_ms": 10.0, f"{name}_p99_ms": 20.0}
    for name in ("direct", "gateway", "litellm_proxy"):
        figures |= {f"{name}_streams_s": 50.0, f"{name}_completed": 10}
    table = gateway_table(figures)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in rows] == ["| direct httpx client → simulator (the floor)",
                                                 "| Python API: submit → queue → worker → first chunk at `JobHandle.stream()`",
                                                 "| gateway: HTTP → queue → worker → first SSE chunk",
                                                 "| LiteLLM proxy → simulator"]
    assert "| — |" in rows[1] and "10 of 10" in rows[2]  # no saturation figure for the Python API path
    assert "over the Python API: p50 3.0 ms, p99 9.0 ms" in table
