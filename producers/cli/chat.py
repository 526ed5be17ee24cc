"""`multillm chat`, `submit`, `stream`, `result` and `cancel`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer

from multillm.common.errors import ConfigurationError, MultiLLMError
from multillm.common.jobs import JobResult
from multillm.common.model_list import fetch_list, listed_model
from multillm.common.providers import create_provider, get_spec
from multillm.common.schemas import ChatOptions, Message, ProviderEvent
from multillm.common.settings import get_settings
from multillm.common.stream import StreamMessage
from multillm.common.validation import parse
from multillm.producers.cli.connect import connect
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.client import MultiLLM, resolve_redis_url

Provider = Annotated[str, typer.Option("--provider", "-p", help="openai, anthropic, google, openrouter, llama, grok, github")]
Model = Annotated[str | None, typer.Option("--model", "-m", help="Any id the provider lists; default: its first catalogue model")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON event per line")]


def chat_options(model: str | None, temperature: float | None, max_tokens: int | None, top_p: float | None,
                 frequency_penalty: float | None, presence_penalty: float | None, stop: list[str] | None,
                 system: str | None, json_mode: bool) -> ChatOptions:
    data = {"model": model, "temperature": temperature, "max_tokens": max_tokens, "top_p": top_p,
            "frequency_penalty": frequency_penalty, "presence_penalty": presence_penalty, "stop": stop or None,
            "system_prompt": system, "json_mode": json_mode}
    return parse(ChatOptions, {k: v for k, v in data.items() if v is not None})


def user_message(prompt: str) -> list[Message]:
    if not prompt.strip():
        raise ConfigurationError("prompt: must not be empty")
    return [Message(role="user", content=prompt)]


@one_line_errors
def chat(
    prompt: Annotated[str, typer.Argument(help="What to ask")],
    provider: Provider = "openai",
    model: Model = None,
    direct: Annotated[bool, typer.Option("--direct", help="Straight to the provider, no queue")] = False,
    as_json: AsJson = False,
    temperature: Annotated[float | None, typer.Option(help="0-2 (Anthropic: 0-1)")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens to generate")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling, 0-1")] = None,
    frequency_penalty: Annotated[float | None, typer.Option(help="-2 to 2")] = None,
    presence_penalty: Annotated[float | None, typer.Option(help="-2 to 2")] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop sequence (repeat, at most 4)")] = None,
    system: Annotated[str | None, typer.Option(help="System prompt")] = None,
    json_mode: Annotated[bool, typer.Option("--json-mode", help="Ask for a JSON object")] = False,
    conversation: Annotated[str | None, typer.Option(help="Continue this conversation (its history is sent)")] = None,
    tenant: Annotated[str, typer.Option(help="The tenant the job (and conversation) belongs to")] = "default",
    cache: Annotated[bool, typer.Option("--cache", help="Let the response cache answer (at temperature 0)")] = False,
    cache_always: Annotated[bool, typer.Option("--cache-always", help="Let the cache answer at any temperature")] = False,
) -> None:
    """Ask one provider and stream the answer to stdout.

    Example: multillm chat --provider anthropic --max-tokens 100 "Name three rivers"
    Example: multillm chat --direct -p openai -m gpt-4o-mini --json "Hello"
    Example: multillm chat -p openrouter -m deepseek/deepseek-chat "Hi"   (any id the provider lists)
    Example: multillm chat --conversation c-42 "And the longest of them?"
    Example: multillm chat --cache --temperature 0 "Capital of France?"
    """
    spec = get_spec(provider)
    options = chat_options(model or spec.default_model, temperature, max_tokens, top_p, frequency_penalty,
                           presence_penalty, stop, system, json_mode)
    messages = user_message(prompt)
    if direct:
        if conversation or cache or cache_always:
            raise ConfigurationError("--direct: conversations and the cache need the queue; drop --direct")
        _chat_direct(provider, messages, options, as_json)
        return
    with connect([provider]) as client:
        handle = client.submit(provider, [m.model_dump() for m in messages], model=options.model, tenant=tenant,
                               conversation=conversation, cache="always" if cache_always else (True if cache else None),
                               **options.model_dump(exclude_none=True, exclude={"model"}))
        print_stream(handle.stream(), as_json)


def _chat_direct(provider: str, messages: list[Message], options: ChatOptions, as_json: bool) -> None:
    settings = get_settings()
    ps = settings.provider(provider)
    spec = get_spec(provider)
    if ps.api_key is None and not ps.base_url:
        raise ConfigurationError(f"{spec.api_key_env}: not set (for the simulator: eval $(multillm simulate --print-env))")
    client = create_provider(provider, ps.api_key.get_secret_value() if ps.api_key else "", base_url=ps.base_url,
                             timeouts=settings.timeouts())
    try:
        listed_model(spec.name, options.model or spec.default_model, fetch_list(client))
        events: Iterable[ProviderEvent] = client.stream_chat(messages, options)
        for event in events:
            if as_json:
                typer.echo(event.model_dump_json(exclude_none=True, exclude_defaults=True))
            elif event.type == "delta":
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif event.type == "tool_call" and event.tool_call:
                typer.echo(f"\n[tool call] {event.tool_call.name}({event.tool_call.arguments})", err=True)
        if not as_json:
            sys.stdout.write("\n")
    finally:
        client.close()


def print_stream(messages: Iterable[StreamMessage], as_json: bool) -> None:
    """Deltas to stdout; restarts, retries and fallbacks noted on stderr; a failed job exits 1."""
    for message in messages:
        if as_json:
            typer.echo(message.model_dump_json(exclude_none=True))
        elif message.type == "delta":
            sys.stdout.write(message.text)
            sys.stdout.flush()
        elif message.type == "start" and message.attempt > 1:
            typer.echo(f"\n[attempt {message.attempt} on {message.provider}/{message.model}: restarting]", err=True)
        elif message.type == "start":
            _note_start(message.model_extra or {})
        elif message.type in ("retry", "fallback"):
            typer.echo(f"\n[{message.type}: {(message.error or {}).get('message', '')}]", err=True)
        if message.type in ("error", "cancelled"):
            raise _job_error(message.error or {})
    if not as_json:
        sys.stdout.write("\n")


def _note_start(extra: dict[str, Any]) -> None:
    """On stderr: an answer from the cache, and turns of a conversation left out to fit the context."""
    if extra.get("cached"):
        typer.echo("[answered from the response cache]", err=True)
    trimmed = (extra.get("conversation") or {}).get("trimmed_turns", 0)
    if trimmed:
        typer.echo(f"[conversation {extra['conversation']['id']}: the {trimmed} oldest turns left out to fit the "
                   "model's context]", err=True)


def _job_error(error: dict[str, Any]) -> MultiLLMError:
    return MultiLLMError(str(error.get("message", "the job failed")))


def open_client() -> MultiLLM:
    """A client of the running system (REDIS_URL, or the one `multillm up` started)."""
    return MultiLLM(resolve_redis_url(None, get_settings()))


@one_line_errors
def submit(
    prompt: Annotated[str, typer.Argument(help="What to ask")],
    provider: Provider = "openai",
    model: Model = None,
    job_id: Annotated[str | None, typer.Option(help="Your own job id (idempotent)")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens to generate")] = None,
    temperature: Annotated[float | None, typer.Option(help="0-2")] = None,
) -> None:
    """Enqueue a chat job and print its id (needs REDIS_URL or `multillm up`).

    Example: JOB=$(multillm submit -p google "Summarise Hamlet") && multillm stream $JOB
    """
    user_message(prompt)
    options: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
    with open_client() as client:
        handle = client.submit(provider, prompt, model=model, job_id=job_id,
                               **{k: v for k, v in options.items() if v is not None})
        typer.echo(handle.job_id)


@one_line_errors
def stream(job_id: str, as_json: AsJson = False,
           timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds")] = None) -> None:
    """Stream a job's messages from the start, whenever you join.

    Example: multillm stream 3f2a9c... --json
    """
    with open_client() as client:
        print_stream(client.job(job_id).stream(timeout=timeout), as_json)


@one_line_errors
def result(job_id: str, wait: Annotated[float, typer.Option(help="Seconds to wait for it")] = 0.0) -> None:
    """Print a job's stored result as JSON.

    Example: multillm result 3f2a9c... --wait 30
    """
    with open_client() as client:
        handle = client.job(job_id)
        found: JobResult | None = handle.result(timeout=wait) if wait else handle.stored_result()
        if found is None:
            raise MultiLLMError(f"job {job_id}: no result yet (status: {handle.status()})")
        typer.echo(json.dumps(found.model_dump(mode="json"), indent=2))


@one_line_errors
def cancel(job_id: str) -> None:
    """Cancel a job: a queued one ends at once, a running one between chunks.

    Example: multillm cancel 3f2a9c...
    """
    with open_client() as client:
        handle = client.job(job_id)
        if handle.cancel():
            typer.echo("cancelling")
        elif handle.status() == "unknown":
            raise MultiLLMError(f"job {job_id}: unknown (never submitted, or expired); nothing written")
        else:
            typer.echo("already finished")
