"""`multillm quotas`."""

from __future__ import annotations

import time
from typing import Annotated, Any

import redis
import typer
from rich.table import Table

from multillm.common.providers import SPECS
from multillm.common.quota import Quota, QuotaRule, rule_for
from multillm.common.settings import get_settings
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json
from multillm.producers.client import resolve_redis_url
from multillm.producers.simulator.config import SIMULATED_KEY


@one_line_errors
def quotas(
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="One provider only")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """Show each provider key's limits, current use and cooldown, as every worker sees them, with what
    the provider's own rate-limit headers last said and any configured limit corrected by them.

    Example: OPENAI_RPM=600 OPENAI_TPM=200000 multillm quotas -p openai
    Example: multillm quotas --json
    """
    settings = get_settings()
    quota = Quota(redis.Redis.from_url(resolve_redis_url(None, settings)))
    rows = []
    for pid in [provider] if provider else list(SPECS):
        ps = settings.provider(pid)
        key = ps.api_key.get_secret_value() if ps.api_key else SIMULATED_KEY
        rule = rule_for(ps, key, settings.rate_limit)
        rows.append(_figures(quota, rule))
    if as_json:
        print_json({"quotas": rows})
        return
    console().print(_windows_table(rows))
    console().print(_provider_table(rows))


def _figures(quota: Quota, rule: QuotaRule) -> dict[str, Any]:
    use = quota.usage(quota.effective(rule))
    now_ms = time.time() * 1000
    provider_view = {dim: {"limit": int(v["limit"]), "remaining": int(v["remaining"]),
                           "reset_in_s": round(max(0.0, v["reset_at"] - now_ms) / 1000, 3),
                           "period_s": v["period"] / 1000}
                     for dim, v in dict(use["provider"]).items()}  # type: ignore[call-overload]
    windows = []
    for w in rule.windows:
        figures = use[w.name]
        assert isinstance(figures, dict)
        windows.append({"name": w.name, "window_s": w.window_ms / 1000, "used": figures["used"],
                        "limit": figures["limit"], "configured": w.limit})
    return {"provider": rule.provider, "key": rule.key_id, "windows": windows, "concurrent": use["concurrent"],
            "max_concurrent": rule.max_concurrent or None, "cooldown_s": use["cooldown_s"], "learning": rule.learn,
            "pending": use["pending"], "corrections": use["corrections"], "provider_says": provider_view,
            "response_delay_ms": use["delay_ms"]}


def _windows_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Quotas (shared by all workers)")
    for column in ("provider", "key", "window", "used / limit", "concurrent", "cooldown", "awaiting headers"):
        table.add_column(column)
    for row in rows:
        common = (f"{row['concurrent']} / {row['max_concurrent'] or '∞'}", f"{row['cooldown_s']:g}s", str(row["pending"]))
        if not row["windows"]:
            label = "learning from headers" if row["learning"] else "no limit"
            table.add_row(row["provider"], row["key"], label, "", *common)
        for w in row["windows"]:
            limit = f"{w['limit']:,}"
            if w["limit"] < w["configured"]:
                limit += f" (configured {w['configured']:,}, above the provider's)"
            table.add_row(row["provider"], row["key"], f"{w['name']} ({w['window_s']:g}s)", f"{w['used']:,} / {limit}",
                          *common)
    return table


def _provider_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="What each provider's rate-limit headers last said")
    for column in ("provider", "key", "counts", "limit", "remaining", "resets in", "period", "headers after (last/max)"):
        table.add_column(column)
    for row in rows:
        delay = row["response_delay_ms"]
        after = f"{delay.get('last_delay_ms', 0)} / {delay.get('max_delay_ms', 0)} ms" if delay else ""
        for dim, v in row["provider_says"].items():
            table.add_row(row["provider"], row["key"], dim, f"{v['limit']:,}", f"{v['remaining']:,}",
                          f"{v['reset_in_s']:g}s", f"{v['period_s']:g}s", after)
    return table
