"""`multillm models`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import redis
import typer
from rich.table import Table

from multillm.common.errors import ConfigurationError
from multillm.common.model_facts import ModelFacts, load_overrides, model_facts
from multillm.common.model_list import ModelLists, fetch_list
from multillm.common.providers import LiveModel, create_provider, get_spec
from multillm.common.settings import Settings, get_settings
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json
from multillm.producers.local.embedded import find_running


@one_line_errors
def models(
    provider: Annotated[str, typer.Option("--provider", "-p", help="Provider id")] = "openai",
    live: Annotated[bool, typer.Option(help="The provider's live list (needs its key); default: the catalogue")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """List a provider's models: context length, output limit, price per million tokens, and where
    each came from (override, live list, catalogue, price data, unknown).

    Example: multillm models --provider anthropic --live
    Example: MULTILLM_MODELS=models.yaml multillm models -p llama --json
    """
    spec = get_spec(provider)
    settings = get_settings()
    overrides = load_overrides(settings.models_file)
    listed = _live_list(provider, settings) if live else None
    if listed is not None:
        rows = [model_facts(provider, m.id, m, overrides) for m in listed]
    else:
        ids = [m.id for m in spec.models] + [m for p, m in overrides if p == provider and not spec.find_model(m)]
        rows = [model_facts(provider, model, None, overrides) for model in ids]
    if as_json:
        print_json({"provider": spec.id, "live": listed is not None, "models": [asdict(f) for f in rows]})
        return
    console().print(_table(f"{spec.label} models" + (" (live list)" if listed is not None else ""), rows))


def _live_list(provider: str, settings: Settings) -> list[LiveModel]:
    """Through the shared cache when a Redis is at hand (REDIS_URL or `multillm up`), else fetched now."""
    ps = settings.provider(provider)
    if ps.api_key is None:
        raise ConfigurationError(f"{get_spec(provider).api_key_env}: not set; --live asks the provider with it")
    key = ps.api_key.get_secret_value()
    client = create_provider(provider, key, base_url=ps.base_url, timeouts=settings.timeouts(total=30))
    try:
        url = settings.redis_url or find_running()
        if url:
            with redis.Redis.from_url(url) as r:
                found = ModelLists(r).get(client, key)
        else:
            found = fetch_list(client)
    finally:
        client.close()
    if found is None:
        raise ConfigurationError(f"{provider}: the model list could not be fetched (LOG_LEVEL=debug for why)")
    return found


COLUMNS = ("model", "context", "max output", "limits from", "$/M in", "$/M out", "$/M cached in", "price from")


def _cells(rows: list[ModelFacts]) -> list[list[str]]:
    cells = []
    for f in rows:
        p = f.prices
        cells.append([f.model, _n(f.context_length), _n(f.max_output_tokens), f.limits_source,
                      _usd(p.input if p else None), _usd(p.output if p else None),
                      _usd(p.cached_input if p else None), f.price_source])
    return cells


def _table(title: str, rows: list[ModelFacts]) -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "limits from", "price from") else "right")
    for line in _cells(rows):
        table.add_row(*line)
    return table


def _n(value: int | None) -> str:
    return f"{value:,}" if value is not None else "unknown"


def _usd(value: float | None) -> str:
    return f"{value:g}" if value is not None else "unknown"
