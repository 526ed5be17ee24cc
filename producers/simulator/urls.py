"""Where each provider lives on a simulator: a path prefix per provider, followed by the path of its
real base URL. Imports nothing heavy, so the local system can point providers at a simulator it runs
as a separate process."""

PREFIXES = {"openai": "/openai/v1", "anthropic": "/anthropic", "google": "/google/v1beta",
            "openrouter": "/openrouter/api/v1", "llama": "/llama/v1", "grok": "/grok/v1", "github": "/github"}


def base_urls(root_url: str) -> dict[str, str]:
    """Each provider's base URL on a simulator at `root_url` (http://host:port)."""
    return {provider: root_url.rstrip("/") + prefix for provider, prefix in PREFIXES.items()}
