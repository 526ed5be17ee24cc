"""The health beat: probe each configured provider cheaply, combine with rolling statistics from
real traffic, score, and write the fallback order. Model lists are refreshed into the 1-hour cache.

Only one run acts per interval however many beats send the task: the run takes a Redis lock that
expires just before the next interval (SET NX PX), and a run that cannot take it does nothing.
"""

from __future__ import annotations

import logging

from multillm.common import constants
from multillm.common.model_list import ModelLists
from multillm.common.provider_health import Health, assess, recent_outcomes, write_order
from multillm.common.providers import SPECS, create_provider
from multillm.workers.app import app
from multillm.workers.tasks import runtime

log = logging.getLogger("multillm.health")

HEALTH_LOCK = constants.HEALTH_LOCK
HEALTH_QUEUE = constants.HEALTH_QUEUE
HEALTH_RUNS = constants.HEALTH_RUNS  # how many runs acted: lets operators see one beat acting


def probe(provider: str) -> bool:
    """The cheapest authenticated call: the model list, stored in the shared 1-hour cache that
    validation, routing and `multillm models` read (common/model_list.py)."""
    rt = runtime()
    ps = rt.settings.provider(provider)
    if ps.api_key is None and not ps.base_url:
        return False
    key = ps.api_key.get_secret_value() if ps.api_key else ""  # a self-hosted server may need none
    base_url = ps.base_url or SPECS[provider].default_base_url
    client = create_provider(provider, key, base_url=base_url, timeouts=rt.settings.timeouts(total=10),
                             client=rt.http_client(base_url))
    return ModelLists(rt.redis).refresh(client, key) is not None


def check_health() -> list[Health] | None:
    rt = runtime()
    interval_ms = int(rt.settings.health_interval_s * 1000)
    if not rt.redis.set(HEALTH_LOCK, "1", nx=True, px=max(100, int(interval_ms * 0.8))):
        return None  # another beat's run already acted in this interval
    rt.redis.incr(HEALTH_RUNS)
    healths = []
    for provider in SPECS:
        probe_ok = probe(provider)
        if probe_ok and rt.circuit.state(provider) == "half_open":
            rt.circuit.record(provider, True)  # the probe is the half-open trial call
        outcomes = recent_outcomes(rt.redis, provider, rt.settings.health_window_s)
        healths.append(assess(provider, outcomes, rt.circuit.state(provider), probe_ok))
    order = write_order(rt.redis, healths)
    log.info("fallback order: %s", ", ".join(order))
    return healths


@app.task(name=constants.HEALTH_TASK, ignore_result=True)
def health() -> str:
    healths = check_health()
    return "skipped" if healths is None else "checked"
