"""Which fault, if any, a request gets: the `x-simulator-fault` header, else a `[[fault:NAME]]`
marker in the last user message (so a job that travels through a queue can ask for one), else a
random draw at the configured rate."""

from __future__ import annotations

import random
import re

from multillm.producers.simulator.config import FAULTS, SimulatorConfig

MARKER = re.compile(r"\[\[fault:([a-z0-9_]+)\]\]")
# Faults answered with an HTTP error before anything is streamed, by the error kind they stand for.
STATUS_FAULTS = {"400": "invalid", "401": "auth", "403": "permission", "429": "rate_limit", "500": "server",
                 "502": "bad_gateway", "503": "unavailable", "529": "overloaded", "context": "context"}
# Faults that strike after `fault_after_chunks` token chunks of a stream.
MID_STREAM_FAULTS = frozenset({"stall_mid", "drop", "malformed", "midstream_error"})


class UnknownFault(ValueError):
    """A request asked for a fault the simulator does not know."""


def requested_fault(prompt: str, header: str | None) -> str | None:
    """The fault a request asks for by header or marker; raises UnknownFault for a misspelt one."""
    name = header.strip() if header else None
    if not name:
        marked = MARKER.search(prompt)
        name = marked.group(1) if marked else None
    if name is not None and name not in FAULTS:
        raise UnknownFault(f"unknown simulator fault {name!r}; known: {', '.join(FAULTS)}")
    return name


def drawn_fault(config: SimulatorConfig, provider: str, rng: random.Random) -> str | None:
    rate, names = config.fault_draw(provider)
    if names and rate > 0 and (rate >= 1 or rng.random() < rate):
        return rng.choice(names)
    return None


def choose_fault(config: SimulatorConfig, provider: str, prompt: str, header: str | None,
                 rng: random.Random) -> str | None:
    return requested_fault(prompt, header) or drawn_fault(config, provider, rng)
