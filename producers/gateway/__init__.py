"""The HTTP gateway: OpenAI-compatible chat completions and a jobs API, for tenants with API keys."""

from multillm.producers.gateway.app import create_app

__all__ = ["create_app"]
