"""A small HTTP server for integration tests: it logs every request body and answers with scripted
replies in OpenAI Chat Completions SSE (`POST /v1/chat/completions`) or Anthropic Messages SSE
(`POST /v1/messages`). Before answering it checks the conversation rules each API enforces on a
history with tool calls, and refuses a request that breaks one with a 400 in that API's error shape:

- OpenAI: a `tool` message must answer a `tool_calls` id of an earlier assistant message, and every
  tool call must be answered before the next user or assistant message.
- Anthropic: the first message is a user turn; every `tool_use` block is answered by
  a `tool_result` block in the very next user turn; a `tool_result` answers a `tool_use` of the
  assistant turn just before; tool ids match `^[a-zA-Z0-9_-]+$`; `tools` is given when the history
  holds tool blocks; no text block is empty.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


@dataclass
class Reply:
    """What the next request gets: text in `chunks`, or one tool call."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", " there"])
    tool_call: tuple[str, str, dict[str, Any]] | None = None  # id, name, arguments
    gate: threading.Event | None = None  # when given, the answer waits until the test sets it
    status: int = 200  # anything else: an error in the API's shape, as for a broken history


def openai_problems(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    open_calls: set[str] = set()
    for i, message in enumerate(body.get("messages", [])):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in open_calls:
                problems.append(f"messages[{i}]: tool_call_id {message.get('tool_call_id')!r} answers no tool call")
            open_calls.discard(message.get("tool_call_id"))
            continue
        if open_calls:
            problems.append(f"messages[{i}]: tool calls {sorted(open_calls)} were not answered")
            open_calls.clear()
        for call in message.get("tool_calls") or []:
            open_calls.add(call["id"])
    return problems


def anthropic_problems(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    messages = body.get("messages", [])
    if messages and messages[0].get("role") != "user":
        problems.append("messages: the first message must use the user role")
    pending: set[str] = set()
    has_tools = False
    for i, message in enumerate(messages):
        blocks = message["content"] if isinstance(message["content"], list) else [{"type": "text", "text": message["content"]}]
        results = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        if pending and results != pending:
            problems.append(f"messages[{i}]: tool_use ids {sorted(pending)} need tool_result blocks right after")
        if results - pending:
            problems.append(f"messages[{i}]: tool_result for unknown tool_use ids {sorted(results - pending)}")
        pending = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        has_tools = has_tools or bool(pending or results)
        for b in blocks:
            if b.get("type") == "text" and not b.get("text"):
                problems.append(f"messages[{i}]: text content blocks must be non-empty")
            for key in ("id", "tool_use_id"):
                if key in b and not TOOL_ID.match(str(b[key])):
                    problems.append(f"messages[{i}]: {key} {b[key]!r} does not match {TOOL_ID.pattern}")
    if pending:
        problems.append("messages: the last tool_use blocks have no tool_result")
    if has_tools and not body.get("tools"):
        problems.append("tools: requests that hold tool_use or tool_result blocks must define tools")
    return problems


def openai_events(model: str, reply: Reply) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": ""})]
    if reply.tool_call:
        call_id, name, arguments = reply.tool_call
        events.append(chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                             "function": {"name": name, "arguments": json.dumps(arguments)}}]}))
        events.append(chunk({}, "tool_calls"))
    else:
        events += [chunk({"content": text}) for text in reply.chunks]
        events.append(chunk({}, "stop"))
    events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
                   "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
    return events


def anthropic_events(model: str, reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                                                  "content": [], "stop_reason": None, "stop_sequence": None,
                                                  "usage": {"input_tokens": 10, "output_tokens": 1}}}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", start)]
    if reply.tool_call:
        call_id, name, arguments = reply.tool_call
        events.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": call_id, "name": name, "input": {}}}))
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": json.dumps(arguments)}}))
        stop = "tool_use"
    else:
        events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": text}}) for text in reply.chunks]
        stop = "end_turn"
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": 5}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def wired_env(base_url: str) -> dict[str, str]:
    """Worker environment that sends OpenAI and Anthropic calls to the server at `base_url`."""
    return {"OPENAI_API_KEY": "sk-wire-test", "OPENAI_BASE_URL": f"{base_url}/v1",
            "ANTHROPIC_API_KEY": "sk-ant-wire-test", "ANTHROPIC_BASE_URL": base_url}


class WireServer:
    """Start with `with WireServer() as server:`; `server.url` is its base, `server.requests` the log."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.replies: deque[Reply] = deque()
        self.answer_for: Callable[[dict[str, Any]], Reply] = lambda _: Reply()  # when no reply is queued
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> WireServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for p, body in self.requests if p == path]

    def _next(self, path: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append((path, body))
            return self.replies.popleft() if self.replies else self.answer_for(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                if self.path not in ("/v1/messages", "/v1/chat/completions"):  # e.g. count_tokens: not served here
                    self._send(404, "application/json", b'{"error": {"message": "not found"}}')
                    return
                anthropic = self.path == "/v1/messages"
                problems = anthropic_problems(body) if anthropic else openai_problems(body)
                reply = server._next(self.path, body)
                if reply.gate is not None:
                    reply.gate.wait(30)
                if reply.status != 200:
                    problems = problems or [f"scripted failure {reply.status}"]
                if problems:
                    error = ({"type": "error", "error": {"type": "invalid_request_error", "message": problems[0]}}
                             if anthropic else {"error": {"message": problems[0], "type": "invalid_request_error",
                                                          "param": "messages", "code": None}})
                    self._send(reply.status if reply.status != 200 else 400, "application/json", json.dumps(error).encode())
                    return
                model = body.get("model", "")
                if anthropic:
                    events = anthropic_events(model, reply)
                    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
                else:
                    text = "".join(f"data: {json.dumps(e)}\n\n" for e in openai_events(model, reply)) + "data: [DONE]\n\n"
                self._send(200, "text/event-stream", text.encode())

            def _send(self, status: int, kind: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
