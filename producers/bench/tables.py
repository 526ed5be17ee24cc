"""BENCHMARKS.md tables from the figures `multillm bench` measured (`--markdown`)."""

from __future__ import annotations

from typing import Any

SYSTEMS = {
    "multillm": "multillm (submit → stored result, every chunk published and logged)",
    "direct": "direct asyncio httpx client (the practical limit)",
    "litellm": "LiteLLM Router, streaming `acompletion` (asyncio)",
    "celery": "plain Celery task (httpx stream, text via the Redis result backend)",
}


def throughput_table(f: dict[str, Any]) -> str:
    rows = ["| system | jobs/s (median of rounds) | each round | ratio to direct | succeeded "
            "| CPU of the process streaming from the provider |", "|---|---|---|---|---|---|"]
    for name, label in SYSTEMS.items():
        rounds = ", ".join(f"{r:.1f}" for r in f[f"{name}_rounds_jobs_s"])
        rows.append(f"| {label} | {f[f'{name}_jobs_s']:.1f} | {rounds} | {f[f'{name}_ratio']:.2f} | "
                    f"{f[f'{name}_succeeded']:,} of {f['jobs'] * f['rounds']:,} | {f[f'{name}_http_process_cpu']:.0%} |")
    if "multillm_cpu_s_per_1000_chunks" in f:
        rows += ["", "| CPU seconds per 1,000 streamed chunks | multillm worker | multillm worker + Redis | direct client "
                 "| multillm / direct | LiteLLM | plain Celery task |", "|---|---|---|---|---|---|---|",
                 f"| {f['jobs'] * f['rounds'] * f['max_tokens']:,} chunks | {f['multillm_cpu_s_per_1000_chunks']:.3f} "
                 f"| {f['multillm_cpu_s_per_1000_chunks'] + f['redis_cpu_s_per_1000_chunks']:.3f} "
                 f"| {f['direct_cpu_s_per_1000_chunks']:.3f} | **{f['multillm_cpu_ratio_to_direct']:.2f}** "
                 f"| {f['litellm_cpu_s_per_1000_chunks']:.3f} | {f['celery_cpu_s_per_1000_chunks']:.3f} |"]
    return "\n".join(rows)


def capacity_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| pool | slots | processes | concurrent streams reached | idle PSS | peak PSS | peak RSS "
             "| per stream, added | per stream, all memory / streams |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['pool']} | failed: {r['error']} |")
            continue
        lines.append(f"| {r['pool']} | {r['slots']:,} | {r['processes']} | {r['peak_concurrent_streams']:,} "
                     f"| {r['idle_pss_mib']:.0f} MiB | {r['peak_pss_mib']:.0f} MiB | {r['peak_rss_mib']:.0f} MiB "
                     f"| {_size(r['kib_per_stream'])} | {_size(r['kib_per_stream_total'])} |")
    return "\n".join(lines)


def fanout_table(f: dict[str, Any]) -> str:
    labels = {"pubsub": "raw PUBLISH / SUBSCRIBE (the floor)",
              "multillm": "multillm: publish script (seq, replay log, PUBLISH) → `JobHandle.stream()`"}
    lines = ["| path | chunks | received | rate reached (median; each round) | p50 | p90 | p99 | max |",
             "|---|---|---|---|---|---|---|---|"]
    for mode, label in labels.items():
        m = f[mode]
        each = ", ".join(f"{r:,.0f}" for r in m["rounds_rate"])
        lines.append(f"| {label} | {m['published']:,} | {m['received']:,} | {m['achieved_rate']:,.0f}/s ({each}) "
                     f"| {m['p50_ms']:.2f} ms | {m['p90_ms']:.2f} ms | {m['p99_ms']:.2f} ms | {m['max_ms']:.1f} ms |")
    lines.append(f"| **multillm / floor** | | | | **{f['p50_ratio']:.2f}x** | | **{f['p99_ratio']:.2f}x** | |")
    return "\n".join(lines)


QUOTA_SETUPS = {
    "multillm": "simulator 600 RPM / 60 s; OPENAI_RPM, OPENAI_TPM", "celery": "simulator; Celery rate_limit 10/s per worker",
    "litellm": "simulator; Router rpm, tpm, Redis",
    "multillm strict": "strict 30 / 10 s; OPENAI_RATE_LIMIT_* = 30 / 10000 ms",
    "multillm quantized": "strict 30 / 10 s; only OPENAI_RPM=180", "litellm quantized": "strict 30 / 10 s; Router rpm=180, Redis",
    "multillm learned (openai headers)": "strict 30 / 10 s, OpenAI headers; nothing configured, 300 jobs",
    "multillm learned (anthropic headers)": "strict 30 / 10 s, Anthropic headers; nothing configured, 300 jobs",
}


def quota_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| system | server; configuration | worker processes | succeeded | 429s | most in one window "
             "| share of the quota used |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['system']} | | {r['workers']} | failed: {r['error']} | | | |")
            continue
        peak = f"{r['peak']} / {r['limit']}" if "peak" in r else ""
        learned = "429s_after_10" in r and "learned" in r["system"]
        late = f" ({r['429s_after_10']} after the first 10 responses)" if learned else ""
        lines.append(f"| {r['system']} | {QUOTA_SETUPS.get(r['system'], '')} | {r['workers']} | {r['succeeded']:,} "
                     f"| {r['429s']:,}{late} | {peak} | {r['share']:.0%} |")
    return "\n".join(lines)


def _size(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB" if kib >= 1024 else f"{kib:.0f} KiB"


def gateway_table(f: dict[str, Any]) -> str:
    labels = {"direct": "direct httpx client → simulator (the floor)",
              "python_api": "Python API: submit → queue → worker → first chunk at `JobHandle.stream()`",
              "gateway": "gateway: HTTP → queue → worker → first SSE chunk", "litellm_proxy": "LiteLLM proxy → simulator"}
    lines = ["| path | first chunk p50 | p99 | streamed requests/s at saturation | ratio to direct | completed |",
             "|---|---|---|---|---|---|"]
    for name, label in labels.items():
        rate = f.get(f"{name}_streams_s")
        tail = (f"| {rate:.1f} | {f[f'{name}_streams_s'] / f['direct_streams_s']:.2f} | {f[f'{name}_completed']:,} "
                f"of {f['jobs']:,} |") if rate is not None else "| — | — | — |"
        lines.append(f"| {label} | {f[f'{name}_p50_ms']:.1f} ms | {f[f'{name}_p99_ms']:.1f} ms {tail}")
    lines.append(f"\nGateway's added latency over the Python API: p50 {f['gateway_added_p50_ms']:.1f} ms, "
                 f"p99 {f['gateway_added_p99_ms']:.1f} ms; LiteLLM proxy's over direct: p50 "
                 f"{f['litellm_proxy_added_p50_ms']:.1f} ms, p99 {f['litellm_proxy_added_p99_ms']:.1f} ms.")
    return "\n".join(lines)


TABLES = {"throughput": throughput_table, "fanout": fanout_table, "gateway": gateway_table,
          "quota": lambda figures: quota_table(figures["rows"]),
          "capacity": lambda figures: capacity_table(figures["rows"])}
