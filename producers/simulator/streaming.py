"""Sending an answer: paced streams, the faults that strike during them, and the non-streaming
reply. The hot path of a benchmark: per token one template render (done beforehand) and one write;
tokens that fall due together go out in one write, and with no token rate a whole stream is one write.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from aiohttp import web

from multillm.producers.simulator.faults import MID_STREAM_FAULTS
from multillm.producers.simulator.plan import Plan
from multillm.producers.simulator.sse import dumps
from multillm.producers.simulator.wire import Stream, WireFormat

if TYPE_CHECKING:
    from multillm.producers.simulator.handlers import Simulator

SHORT_PAUSE_S = 0.25  # shorter pauses sleep; longer ones also wake when the server stops


def abort(request: web.Request) -> None:
    """Drop the connection without finishing the response, as a failing upstream does."""
    if request.transport is not None:
        request.transport.abort()


async def pause(sim: Simulator, seconds: float) -> bool:
    """Wait; False when the server is stopping (the caller should give up)."""
    stopping = sim.stopping
    if stopping.is_set():
        return False
    if seconds >= SHORT_PAUSE_S:
        try:
            await asyncio.wait_for(stopping.wait(), seconds)
        except TimeoutError:
            pass
    elif seconds > 0:
        await asyncio.sleep(seconds)
    return not stopping.is_set()


async def send_stream(sim: Simulator, request: web.Request, fmt: WireFormat, plan: Plan, include_usage: bool,
                      headers: dict[str, str]) -> web.StreamResponse:
    pieces = fmt.stream(plan, include_usage)
    response = web.StreamResponse(headers={"content-type": fmt.stream_type, "cache-control": "no-cache", **headers})
    await response.prepare(request)
    sim.stats.stream_opened()
    try:
        await _write_stream(sim, request, response, fmt, plan, pieces)
    except ConnectionError:  # the client went away
        pass
    finally:
        sim.stats.stream_closed()
    return response


async def _write_stream(sim: Simulator, request: web.Request, response: web.StreamResponse, fmt: WireFormat,
                        plan: Plan, pieces: Stream) -> None:
    if plan.fault == "stall":  # headers, then nothing
        await pause(sim, sim.config.stall_s)
        return abort(request)
    if pieces.early:
        await response.write(pieces.early)
    if not await pause(sim, plan.ttft_s):
        return abort(request)
    cut = None
    if plan.fault in MID_STREAM_FAULTS:  # strike before the last token so no stream looks complete
        cut = max(0, min(sim.config.fault_after_chunks, len(pieces.tokens) - 1))
    if not await _send_tokens(sim, response, pieces.head, pieces.tokens[:cut], plan.gap_s):
        return abort(request)
    if cut is not None:
        return await _strike(sim, request, response, fmt, plan)
    await response.write(pieces.tail)
    await response.write_eof()


async def _send_tokens(sim: Simulator, response: web.StreamResponse, head: bytes, tokens: list[bytes],
                       gap_s: float) -> bool:
    """Token i goes out `i * gap_s` after the first, on a fixed schedule so pauses do not drift."""
    if gap_s <= 0 or len(tokens) <= 1:
        await response.write(head + b"".join(tokens))
        return True
    loop = asyncio.get_running_loop()
    start, sent, pending = loop.time(), 0, head
    while sent < len(tokens):
        due = max(sent + 1, math.floor((loop.time() - start) / gap_s) + 1)
        await response.write(pending + b"".join(tokens[sent:due]))
        sent, pending = min(due, len(tokens)), b""
        if sent < len(tokens) and not await pause(sim, start + sent * gap_s - loop.time()):
            return False
    return True


async def _strike(sim: Simulator, request: web.Request, response: web.StreamResponse, fmt: WireFormat,
                  plan: Plan) -> None:
    if plan.fault == "stall_mid":
        await pause(sim, sim.config.stall_s)
        return abort(request)
    if plan.fault == "drop":
        return abort(request)
    await response.write(fmt.malformed(plan) if plan.fault == "malformed" else fmt.midstream_error(plan))
    await response.write_eof()


async def send_completion(sim: Simulator, request: web.Request, fmt: WireFormat, plan: Plan,
                          headers: dict[str, str]) -> web.StreamResponse:
    """The whole answer after the time a stream of it would take; stream faults in their non-streaming form."""
    tokens = plan.completion_tokens + plan.reasoning_tokens
    if not await pause(sim, plan.ttft_s + plan.gap_s * max(0, tokens - 1)):
        return _dropped(request)
    if plan.fault in ("stall", "stall_mid"):
        await pause(sim, sim.config.stall_s)
        return _dropped(request)
    if plan.fault == "drop":
        return _dropped(request)
    if plan.fault == "malformed":
        return web.Response(body=fmt.malformed(plan), content_type="application/json", headers=headers)
    if plan.fault == "midstream_error":
        return _failed_completion(fmt, plan)
    return web.json_response(fmt.completion(plan), headers=headers, dumps=dumps)


def _failed_completion(fmt: WireFormat, plan: Plan) -> web.Response:
    """What an upstream failure looks like without a stream: xAI may send its error with HTTP 200."""
    if plan.provider == "grok":
        return web.json_response({"code": "Internal error", "error": "The model failed to answer."}, dumps=dumps)
    kind = {"openrouter": "bad_gateway", "anthropic": "overloaded", "google": "unavailable"}.get(plan.provider, "server")
    reply = fmt.error(plan.provider, kind, "The upstream model failed while answering.")
    return web.json_response(reply.body, status=reply.status, headers=dict(reply.headers), dumps=dumps)


def _dropped(request: web.Request) -> web.StreamResponse:
    abort(request)
    return web.Response(status=499)  # never reaches the client: the connection is gone
