"""The plain Celery peer's worker: Celery's defaults, one task that streams the answer with httpx
and returns its text through the Redis result backend (see `bench_peers`).

    celery -A multillm.producers.bench.plain_celery worker -Q multillm-bench.plain -P threads -c 100
"""

from __future__ import annotations

import httpx

from multillm.common.settings import get_settings
from multillm.producers.bench.peers import TASK, chat_body, content_of, make_app

# The worker's app: REDIS_URL and the provider's base URL and key come from the worker's settings.
app = make_app(get_settings().redis_url or "redis://127.0.0.1:6379/0")
_http = httpx.Client(limits=httpx.Limits(max_connections=None, max_keepalive_connections=1000),
                     timeout=httpx.Timeout(60, connect=5))


@app.task(name=TASK)
def plain_stream_chat(prompt: str, model: str, max_tokens: int) -> str:
    """Stream one answer from the OpenAI-format provider and return its text."""
    provider = get_settings().provider("openai")
    key = provider.api_key.get_secret_value() if provider.api_key else ""
    parts = []
    with _http.stream("POST", f"{provider.base_url}/chat/completions", json=chat_body(prompt, model, max_tokens),
                      headers={"Authorization": f"Bearer {key}"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                parts.append(content_of(line[6:]))
    return "".join(parts)


