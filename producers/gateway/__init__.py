"""The HTTP gateway: OpenAI-compatible chat completions, a jobs API, and the web console with its API
(batches, providers, usage), for tenants with API keys."""

from multillm.producers.gateway.app import create_app

__all__ = ["create_app"]
