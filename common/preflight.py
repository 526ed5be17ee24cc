"""What a worker does before calling a provider for a job: check the model against the provider's
live model list (shared cache), count the prompt's tokens, check `max_tokens` and the context
length against what is known of the model, and say how many tokens the quota must reserve."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import redis

from multillm.common.errors import ConfigurationError, ContextLengthExceeded
from multillm.common.jobs import Job
from multillm.common.model_facts import ModelFacts, load_overrides, model_facts
from multillm.common.model_list import ModelLists, listed_model
from multillm.common.providers import create_provider, get_spec
from multillm.common.quota import TokenCount as Reservation
from multillm.common.schemas import ChatOptions, Message
from multillm.common.settings import Settings
from multillm.common.tokens import TokenCount, chat_tokens, count_tokens

DEFAULT_OUTPUT_CAP = 4096  # reserved when a job sets no max_tokens (Anthropic's default cap too)


def prepare_call(client: redis.Redis, settings: Settings, job: Job, api_key: str,
                 http_client: Callable[[str], httpx.Client], messages: list[Message] | None = None) -> Reservation:
    """Tokens to reserve for `job` sent with `messages` (the job's own by default): the counted prompt
    and the output cap. Raises UnknownModelError for a model the provider does not list and
    ContextLengthExceeded for a request that cannot fit."""
    spec = get_spec(job.provider)
    base_url = settings.provider(job.provider).base_url or spec.default_base_url
    provider = create_provider(job.provider, api_key, base_url=base_url, timeouts=settings.timeouts(total=30),
                               client=http_client(base_url))
    live = listed_model(spec.name, job.model, ModelLists(client).get(provider, api_key))
    facts = model_facts(job.provider, job.model, live, load_overrides(settings.models_file))
    prompt = count_tokens(job.provider, job.model, messages or job.messages, job.options, provider)
    check_limits(job, facts, prompt)
    cap = job.options.max_tokens or min(facts.max_output_tokens or DEFAULT_OUTPUT_CAP, DEFAULT_OUTPUT_CAP)
    return Reservation(prompt.tokens, cap)


def check_limits(job: Job, facts: ModelFacts, prompt: TokenCount) -> None:
    """`max_tokens` within the output limit; prompt (plus `max_tokens` where the provider counts it
    against the window: OpenAI and Anthropic, not Gemini) within the context length. Only an exact
    count can refuse on context: an estimate might be wrong in the caller's disfavour."""
    asked = job.options.max_tokens
    if asked is not None and facts.max_output_tokens and asked > facts.max_output_tokens:
        raise ConfigurationError(f"options.max_tokens: {asked} exceeds {job.model}'s output limit of "
                                 f"{facts.max_output_tokens} ({facts.limits_source})")
    if not facts.context_length or not prompt.exact:
        return
    counts_output = get_spec(job.provider).protocol != "gemini"
    needed = prompt.tokens + ((asked or 0) if counts_output else 0)
    if needed > facts.context_length:
        raise ContextLengthExceeded(
            f"{prompt.tokens} prompt tokens ({prompt.method})" + (f" + max_tokens {asked}" if needed > prompt.tokens else "")
            + f" exceed {job.model}'s context length of {facts.context_length} ({facts.limits_source})",
            provider=job.provider, model=job.model, job_id=job.job_id)


def warm_up() -> None:
    """Load what the first job would otherwise wait seconds for: the o200k and cl100k encodings
    and genai-prices' snapshot. Workers run it before they announce themselves."""
    hello = [Message(role="user", content="hello")]
    for encoding in ("o200k_base", "cl100k_base"):
        chat_tokens(hello, ChatOptions(), encoding)
    model_facts("openai", "gpt-4o-mini")
