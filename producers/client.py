"""The Python API a backend service uses: submit chat jobs, then stream or wait for them.

    from multillm.producers import MultiLLM
    client = MultiLLM()                       # REDIS_URL, or the system `multillm up` started
    handle = client.submit("anthropic", "Say hello", max_tokens=50)
    for message in handle.stream():
        print(message.type, message.text)
    print(handle.result(timeout=60).text)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import redis
from celery import Celery
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry

from multillm.common import constants
from multillm.common.admission import Admission
from multillm.common.cache import ResponseCache
from multillm.common.conversations import ConversationInfo, Conversations, check_id
from multillm.common.errors import ConfigurationError
from multillm.common.job_record import JobRecords
from multillm.common.jobs import Job
from multillm.common.limits import InputLimits
from multillm.common.model_facts import ModelFacts, load_overrides, model_facts
from multillm.common.model_list import ModelLists, list_key, listed_model
from multillm.common.provider_health import Circuit, read_health, read_order
from multillm.common.providers import LLMProvider, create_provider, get_spec
from multillm.common.quota import Quota
from multillm.common.routing import Policy, candidates, model_for
from multillm.common.sanitize import DEFAULTS, sanitize_job
from multillm.common.schemas import ChatOptions, Message
from multillm.common.settings import Settings, get_settings
from multillm.common.tokens import TokenCount, count_tokens
from multillm.common.validation import parse
from multillm.producers.handle import JobHandle
from multillm.producers.local.embedded import find_running

REDIS_RETRIES = 30  # with the backoff below, about 20 s of Redis being away before a command fails


def resolve_redis_url(explicit: str | None, settings: Settings) -> str:
    url = explicit or settings.redis_url or find_running()
    if not url:
        raise ConfigurationError("REDIS_URL: not set and no `multillm up` is running; set it or start one")
    return url


def validate_job(job: Job, limits: InputLimits = DEFAULTS, facts: ModelFacts | None = None) -> Job:
    """Refuse what a provider would refuse, before anything is enqueued; a sanitised copy. Any model
    id is accepted; what the catalogue or `facts` know about it is checked."""
    job = sanitize_job(job, limits)
    info = get_spec(job.provider).find_model(job.model)
    if info and job.options.tools and not info.tools:
        raise ConfigurationError(f"options.tools: {info.id} does not support tool calls")
    if info and any(m.images() for m in job.messages) and not info.vision:
        raise ConfigurationError(f"messages: {info.id} does not accept images")
    limit = facts.max_output_tokens if facts else (info.max_output_tokens if info else None)
    if job.options.max_tokens is not None and limit and job.options.max_tokens > limit:
        raise ConfigurationError(f"options.max_tokens: {job.options.max_tokens} exceeds {job.model}'s limit of {limit}")
    return job


def as_messages(prompt: str | Sequence[Message | dict[str, Any]]) -> list[Any]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [m.model_dump() if isinstance(m, Message) else m for m in prompt]


class MultiLLM:
    """Submits jobs onto per-provider queues and hands back `JobHandle`s."""

    def __init__(self, redis_url: str | None = None, *, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.url = resolve_redis_url(redis_url, self.settings)
        # Ride out a Redis restart: commands are retried on a lost connection for about 20 s.
        retry = Retry(EqualJitterBackoff(cap=1.0, base=0.05), REDIS_RETRIES)
        self.redis = redis.Redis.from_url(self.url, retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError])
        self.records = JobRecords.from_settings(self.redis, self.settings)
        self._circuit = Circuit(self.redis)
        self._admission = Admission(Quota(self.redis), self.settings)
        self._lists = ModelLists(self.redis)
        self._providers: dict[str, LLMProvider] = {}
        self.conversations = Conversations(self.redis, self.settings.conversation_ttl_s)
        self.cache = ResponseCache(self.redis, self.settings)
        self._celery = Celery("multillm-producer", broker=self.url, set_as_current=False)
        self._celery.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                                 broker_connection_retry_on_startup=True,
                                 task_publish_retry_policy={"max_retries": REDIS_RETRIES, "interval_start": 0,
                                                            "interval_step": 0.2, "interval_max": 1.0})

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self.redis.close()
        self._celery.close()

    def __enter__(self) -> MultiLLM:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def route(self, provider: str, model: str | None, tier: str | None, policy: str) -> tuple[str, str]:
        """Resolve `auto` and tiers to a provider and model under the policy and the current order."""
        tiers = self.settings.tier_map()
        if provider != "auto":
            spec = get_spec(provider)
            if tier and not model:
                model = model_for(tier, provider, tiers)
                if model is None:
                    raise ConfigurationError(f"tier: {tier!r} has no model for {provider}")
            return provider, model or spec.default_model
        if policy not in ("health", "latency", "cost"):
            raise ConfigurationError(f"policy: {policy!r} is not one of health, latency, cost")
        order = read_order(self.redis, list(self.settings.providers))
        down = {p for p in order if self._circuit.state(p) == "open"}
        chosen_policy = cast(Policy, policy)  # checked just above
        pairs = [c for c in candidates(tier or "fast", order, chosen_policy, tiers, read_health(self.redis))
                 if c[0] not in down and not self._unlisted(*c)]
        if not pairs:
            raise ConfigurationError(f"tier: no provider is available for {tier or 'fast'!r}")
        return pairs[0]

    def submit(
        self,
        provider: str,
        prompt: str | Sequence[Message | dict[str, Any]],
        *,
        model: str | None = None,
        job_id: str | None = None,
        tenant: str = "default",
        deadline_s: float | None = None,
        max_attempts: int | None = None,
        metadata: dict[str, str] | None = None,
        tier: str | None = None,
        policy: str = "health",
        fallback: bool | None = None,
        conversation: str | None = None,
        cache: bool | str | None = None,
        **options: Any,
    ) -> JobHandle:
        """Validate and enqueue one chat; `options` are ChatOptions fields (temperature, max_tokens...).

        `provider` may be `auto` (chosen by `policy`: health, latency or cost) and `tier` a model tier
        (fast, smart, vision). Fallback to other providers is on for `auto` and tiers, off for a named
        provider and model unless `fallback=True`.

        `conversation` names a conversation of the tenant: its history is sent before `prompt`, and the
        answer is added to it. `cache=True` lets the response cache answer when temperature is 0,
        `cache="always"` whatever the temperature, `cache=False` never; None: the tenant's default."""
        chosen, model = self.route(provider, model, tier, policy)
        data: dict[str, Any] = {
            "provider": chosen,
            "model": model,
            "tier": tier or ("fast" if provider == "auto" else None),
            "fallback": fallback if fallback is not None else (provider == "auto" or tier is not None),
            "messages": as_messages(prompt),
            "options": parse(ChatOptions, options).model_dump(exclude_none=True),
            "tenant": tenant,
            "deadline_s": deadline_s or self.settings.job_deadline_s,
            "max_attempts": max_attempts or self.settings.max_attempts,
            "metadata": metadata or {},
            "conversation": check_id(conversation) if conversation is not None else None,
            "cache": cache_mode(cache),
        }
        if job_id is not None:
            data["job_id"] = job_id
        return self.submit_job(parse(Job, data))

    def submit_job(self, job: Job) -> JobHandle:
        """Enqueue a job; submitting the same job id again is a no-op that returns its handle.

        Raises TenantRateLimited, with nothing enqueued, when the job's tenant is over its TENANT_RATE_LIMIT_*
        or the request limit stored for it (`multillm tenants limit`), and TenantBudgetExceeded once its
        finished jobs have cost its stored budget."""
        job = validate_job(job, self.settings.limits, self.model_facts(job.provider, job.model))
        if job.conversation is not None:  # one job at a time per conversation: ConversationBusy otherwise
            hold_s = job.deadline_s + self.settings.result_ttl_s
            self.conversations.claim(job.tenant, job.conversation, job.job_id, hold_s)
        if self._admission.enabled(job.provider) and not self.records.exists(job.job_id):
            self._admission.admit(job.tenant, job.provider, job.job_id)
        if self.records.accept(job) or self._stored_by_this_call(job):
            self._celery.send_task(constants.chat_task(job.provider), args=[job.job_id],
                                   queue=constants.queue(job.provider), task_id=f"{job.job_id}")
        return self.job(job.job_id)

    def model_facts(self, provider: str, model: str) -> ModelFacts:
        """What is known of `model`: checked against the provider's live list (the shared 1-hour cache)
        when this process has the provider's key (UnknownModelError naming the closest ids if it is not
        listed); workers check again with the key they call with."""
        live = None
        client = self._provider(provider)
        if client is not None:
            key = self.settings.provider(provider).api_key
            assert key is not None
            live = listed_model(client.spec.name, model, self._lists.get(client, key.get_secret_value()))
        return model_facts(provider, model, live, load_overrides(self.settings.models_file))

    def count_tokens(self, provider: str, prompt: str | Sequence[Message | dict[str, Any]], *,
                     model: str | None = None, **options: Any) -> TokenCount:
        """Input tokens of a chat before sending it: exact for OpenAI-family models (bpe-openai) and
        where Anthropic's or Gemini's count endpoint answers this process's key; an estimate otherwise."""
        spec = get_spec(provider)
        chat = parse(ChatOptions, {**options, "model": model or spec.default_model})
        messages = [parse(Message, m) for m in as_messages(prompt)]
        return count_tokens(provider, chat.model or spec.default_model, messages, chat, self._provider(provider))

    def _unlisted(self, provider: str, model: str) -> bool:
        """True when the provider's cached live list (this process's key) lacks `model`: routing skips it.
        Reads the cache only; no list, no verdict."""
        client = self._provider(provider)
        key = self.settings.provider(provider).api_key
        if client is None or key is None:
            return False
        found = self._lists.cached(list_key(provider, client.base_url, key.get_secret_value()))
        return isinstance(found, list) and all(m.id != model for m in found)

    def _provider(self, provider: str) -> LLMProvider | None:
        """A client with this process's key for `provider` (kept: its connection pool is reused)."""
        ps = self.settings.provider(provider)
        if ps.api_key is None:
            return None
        if provider not in self._providers:
            self._providers[provider] = create_provider(provider, ps.api_key.get_secret_value(), base_url=ps.base_url,
                                                        timeouts=self.settings.timeouts(total=30))
        return self._providers[provider]

    def _stored_by_this_call(self, job: Job) -> bool:
        """The accept ran but its reply was lost (Redis died after writing it) and the retry found the
        record: it is this very job (same submit time) and no worker has touched it, so it still needs
        enqueueing. A job enqueued twice runs once (a second delivery is a no-op)."""
        return self.redis.get(constants.job(job.job_id)) == job.model_dump_json().encode()

    def job(self, job_id: str) -> JobHandle:
        return JobHandle(job_id, self.redis, self.url, self.records)

    def conversation(self, conversation_id: str, tenant: str = "default") -> ConversationInfo:
        """A conversation with every stored turn; ConfigurationError when there is none by that id."""
        found = self.conversations.info(tenant, check_id(conversation_id), with_history=True)
        if found is None:
            raise ConfigurationError(f"conversation {conversation_id}: not found (never used, expired or deleted)")
        return found

    def list_conversations(self, tenant: str = "default") -> list[ConversationInfo]:
        return self.conversations.list(tenant)

    def fork_conversation(self, conversation_id: str, new_id: str, *, at_turn: int | None = None,
                          tenant: str = "default") -> ConversationInfo:
        """A new conversation with the first `at_turn` turns (all if None) of `conversation_id`."""
        return self.conversations.fork(tenant, check_id(conversation_id), new_id, at_turn)

    def delete_conversation(self, conversation_id: str, tenant: str = "default") -> bool:
        return self.conversations.delete(tenant, check_id(conversation_id))


def cache_mode(cache: bool | str | None) -> str | None:
    """`cache=` as the job stores it: True -> on, False -> off; on, off and always as they are."""
    if cache is None or isinstance(cache, bool):
        return None if cache is None else ("on" if cache else "off")
    if cache not in ("on", "off", "always"):
        raise ConfigurationError(f"cache: {cache!r} is not one of True, False, 'on', 'off', 'always'")
    return cache
