"""`multillm quotas`."""

from __future__ import annotations

from typing import Annotated

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
def quotas(provider: Annotated[str | None, typer.Option("--provider", "-p", help="One provider only")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False) -> None:
    """Show each provider key's limits, current use and cooldown, as every worker sees them.

    Example: OPENAI_RPM=600 OPENAI_TPM=200000 multillm quotas -p openai
    Example: multillm quotas --json
    """
    settings = get_settings()
    client = redis.Redis.from_url(resolve_redis_url(None, settings))
    quota = Quota(client)
    table = Table(title="Quotas (shared by all workers)")
    for column in ("provider", "key", "window", "used / limit", "concurrent", "cooldown"):
        table.add_column(column)
    document: list[dict[str, object]] = []
    for pid in [provider] if provider else list(SPECS):
        ps = settings.provider(pid)
        key = ps.api_key.get_secret_value() if ps.api_key else SIMULATED_KEY
        rule = rule_for(ps, key, settings.rate_limit)
        use = quota.usage(rule)
        document.append(quota_document(pid, rule, use))
        windows = [w for w in rule.windows] or [None]
        for w in windows:
            if w is None:
                table.add_row(pid, rule.key_id, "no limit", "", str(use["concurrent"]), f"{use['cooldown_s']:g}s")
                continue
            figures = use[w.name]
            assert isinstance(figures, dict)
            table.add_row(pid, rule.key_id, f"{w.name} ({w.window_ms / 1000:g}s)",
                          f"{figures['used']:,} / {w.limit:,}",
                          f"{use['concurrent']} / {rule.max_concurrent or '∞'}", f"{use['cooldown_s']:g}s")
    if as_json:
        print_json({"quotas": document})
    else:
        console().print(table)


def quota_document(provider: str, rule: QuotaRule, use: dict[str, object]) -> dict[str, object]:
    """`--json`: one provider key's windows (used and limit), concurrency and cooldown."""
    windows = []
    for w in rule.windows:
        figures = use[w.name]
        assert isinstance(figures, dict)
        windows.append({"name": w.name, "window_s": w.window_ms / 1000, "used": figures["used"], "limit": w.limit})
    return {"provider": provider, "key": rule.key_id, "windows": windows, "concurrent": use["concurrent"],
            "max_concurrent": rule.max_concurrent or None, "cooldown_s": use["cooldown_s"]}
