"""`multillm tokens`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from multillm.common.providers import create_provider, get_spec
from multillm.common.schemas import ChatOptions, Message
from multillm.common.settings import get_settings
from multillm.common.tokens import count_tokens
from multillm.producers.cli.exits import one_line_errors


@one_line_errors
def tokens(
    text: Annotated[str, typer.Argument(help="The prompt; - reads it from stdin")],
    provider: Annotated[str, typer.Option("--provider", "-p", help="Provider id")] = "openai",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model id; default: the provider's first")] = None,
    system: Annotated[str | None, typer.Option(help="System prompt")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="{tokens, method, exact} as JSON")] = False,
) -> None:
    """Count a prompt's input tokens as the provider will, before sending it: exact for OpenAI-family
    models (o200k/cl100k), Anthropic's and Gemini's count endpoints when their key is set, an
    estimate otherwise.

    Example: multillm tokens -p openai -m gpt-5 "How many tokens is this?"
    """
    spec = get_spec(provider)
    prompt = sys.stdin.read() if text == "-" else text
    settings = get_settings()
    ps = settings.provider(provider)
    client = (create_provider(provider, ps.api_key.get_secret_value(), base_url=ps.base_url,
                              timeouts=settings.timeouts(total=30)) if ps.api_key else None)
    try:
        counted = count_tokens(provider, model or spec.default_model, [Message(role="user", content=prompt)],
                               ChatOptions(system_prompt=system), client)
    finally:
        if client is not None:
            client.close()
    if as_json:
        typer.echo(json.dumps({"tokens": counted.tokens, "method": counted.method, "exact": counted.exact}))
    else:
        typer.echo(f"{counted.tokens} tokens ({counted.method})")
