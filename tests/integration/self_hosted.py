"""A small OpenAI-compatible server of our own, as vLLM, llama.cpp or Ollama would be: it lists
arbitrary model names (`GET /v1/models`) and answers `POST /v1/chat/completions`, streamed or not,
with "hello from <model>". Independent of the simulator and of multillm's provider code."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SelfHostedServer:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.model_list_requests = 0
        self.authorizations: set[str | None] = set()  # the Authorization headers seen
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> SelfHostedServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.authorizations.add(self.headers.get("authorization"))
                if self.path != "/v1/models":
                    return self._json(404, {"error": {"message": "not found"}})
                outer.model_list_requests += 1
                self._json(200, {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "me"}
                                                            for n in outer.names]})

            def do_POST(self) -> None:
                outer.authorizations.add(self.headers.get("authorization"))
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if body.get("model") not in outer.names:
                    return self._json(404, {"error": {"message": f"model {body.get('model')} not found"}})
                words = ["hello", " from", f" {body['model']}"]
                usage = {"prompt_tokens": 3, "completion_tokens": len(words), "total_tokens": 3 + len(words)}
                if not body.get("stream"):
                    return self._json(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                                            "choices": [{"index": 0, "finish_reason": "stop",
                                                         "message": {"role": "assistant", "content": "".join(words)}}],
                                            "usage": usage})
                chunks = [{"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
                chunks += [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, {"choices": [], "usage": usage}]
                payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                self._send(200, payload.encode(), "text/event-stream")

            def _json(self, status: int, body: Any) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
