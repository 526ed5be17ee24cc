"""A strict rate-limited chat server, independent of multillm: it counts each request the moment it
arrives in a sliding window (at most LIMIT per WINDOW_MS, no margin), answers 429 with `retry-after`
beyond it, and sends OpenAI's `x-ratelimit-*` or Anthropic's `anthropic-ratelimit-*` headers (or none).

    python -m multillm.producers.bench.strict_server --port 8990 --limit 30 --window-ms 10000 --headers openai

Speaks OpenAI Chat Completions (`/v1/chat/completions`) and Anthropic Messages (`/v1/messages`),
streamed or not, with a short fixed answer. `GET /_stats` returns every accepted arrival time and the
times of the 429s. A threaded server in its own process, as third-party servers are: it imports nothing
from multillm, so our quota code cannot share a mistake with it.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ["quota", "held", "under", "load"]


class StrictWindow:
    """At most `limit` arrivals in any `window_s`; reset is when the window is empty again."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.arrivals: deque[float] = deque()
        self.accepted: list[float] = []
        self.refused: list[float] = []
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int, float, float]:
        """(allowed, remaining, reset_s, retry_after_s) for a request arriving now."""
        with self.lock:
            now = time.time()
            while self.arrivals and self.arrivals[0] <= now - self.window_s:
                self.arrivals.popleft()
            allowed = len(self.arrivals) < self.limit
            if allowed:
                self.arrivals.append(now)
                self.accepted.append(now)
            else:
                self.refused.append(now)
            retry = 0.0 if allowed else self.arrivals[0] + self.window_s - now
            reset = self.arrivals[-1] + self.window_s - now if self.arrivals else 0.0
            return allowed, self.limit - len(self.arrivals), reset, retry


def openai_duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "9.5s", "1m0s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def rate_headers(style: str, limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    if style == "openai":
        return {"x-ratelimit-limit-requests": str(limit), "x-ratelimit-remaining-requests": str(remaining),
                "x-ratelimit-reset-requests": openai_duration(reset_s),
                "x-ratelimit-limit-tokens": "10000000", "x-ratelimit-remaining-tokens": "9999000",
                "x-ratelimit-reset-tokens": "6ms"}
    if style == "anthropic":
        # RFC 3339, whole seconds rounded up (the time by which the window is surely full again).
        at = datetime.fromtimestamp(math.ceil(time.time() + reset_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        a = "anthropic-ratelimit-"
        out = {f"{a}requests-limit": str(limit), f"{a}requests-remaining": str(remaining), f"{a}requests-reset": at}
        for kind in ("tokens", "input-tokens", "output-tokens"):
            out.update({f"{a}{kind}-limit": "10000000", f"{a}{kind}-remaining": "9999000", f"{a}{kind}-reset": at})
        return out
    return {}


def openai_chunks(model: str) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-strict", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w + " "}, "finish_reason": None}]} for w in WORDS]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": len(WORDS),
                                                     "total_tokens": 5 + len(WORDS)}})
    return chunks


def anthropic_events(model: str) -> list[tuple[str, dict[str, Any]]]:
    message: dict[str, Any] = {"id": "msg_strict", "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": w + " "}}) for w in WORDS]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": len(WORDS)}}),
               ("message_stop", {"type": "message_stop"})]
    return events


MODELS = ("gpt-4o-mini", "claude-3-5-haiku-latest")  # what multillm asks for by default on each wire


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StrictServer

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/_stats":
            w = self.server.window
            with w.lock:
                body = {"accepted": list(w.accepted), "refused": list(w.refused), "limit": w.limit,
                        "window_s": w.window_s}
            return self._json(200, body)
        # One list that both OpenAI's and Anthropic's model-list readers take: the models the benchmark asks for.
        models = [{"id": m, "object": "model", "type": "model"} for m in MODELS]
        return self._json(200, {"object": "list", "data": models, "has_more": False})

    def do_POST(self) -> None:
        if self.path.endswith("/count_tokens"):  # Anthropic limits token counting apart from messages
            self.rfile.read(int(self.headers.get("content-length") or 0))
            return self._json(200, {"input_tokens": 5})
        allowed, remaining, reset, retry = self.server.window.take()  # counted at arrival, before the body
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = rate_headers(self.server.style, self.server.window.limit, remaining, reset)
        anthropic = self.path.endswith("/messages")
        if not allowed:
            headers["retry-after"] = str(max(1, math.ceil(retry)))
            error = ({"type": "error", "error": {"type": "rate_limit_error", "message": "rate limited"}} if anthropic
                     else {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
            return self._json(429, error, headers)
        body = json.loads(raw or b"{}")
        model = body.get("model", "model")
        if not body.get("stream"):
            return self._json(200, self._complete(model, anthropic), headers)
        events = anthropic_events(model) if anthropic else [("", c) for c in openai_chunks(model)]
        text = "".join((f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n" for name, data in events)
        if not anthropic:
            text += "data: [DONE]\n\n"
        self._send(200, text.encode(), "text/event-stream", headers)

    def _complete(self, model: str, anthropic: bool) -> dict[str, Any]:
        text = " ".join(WORDS)
        if anthropic:
            return {"id": "msg_strict", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 5, "output_tokens": len(WORDS)}}
        return {"id": "chatcmpl-strict", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(WORDS), "total_tokens": 5 + len(WORDS)}}

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers or {})

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class StrictServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, limit: int, window_ms: int, style: str) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.window = StrictWindow(limit, window_ms / 1000)
        self.style = style


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--window-ms", type=int, required=True)
    parser.add_argument("--headers", choices=["openai", "anthropic", "none"], default="openai")
    args = parser.parse_args()
    StrictServer(args.port, args.limit, args.window_ms, args.headers).serve_forever()


if __name__ == "__main__":
    main()
