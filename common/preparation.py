"""What a job sends besides its own messages, and what its answer leaves behind: the conversation's
history before the call (common/conversations.py), a cached answer instead of the call
(common/cache.py), and after it the turn appended and the answer stored.

The runner calls `load` once an attempt may start, sends `messages`, passes every provider event to
`record`, and calls `succeeded` before the result is written (or `failed` when the job ends
otherwise); everything else about conversations and the cache lives here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from multillm.common.cache import CachedAnswer, ResponseCache, mode_for, recordable, request_key
from multillm.common.conversations import (
    Conversations,
    History,
    answer_message,
    assemble,
    message_counter,
    prompt_budget,
)
from multillm.common.jobs import Job, JobResult
from multillm.common.model_facts import load_overrides, model_facts
from multillm.common.schemas import ChatOptions, Message, ProviderEvent
from multillm.common.settings import Settings


class Preparation:
    """One attempt's view of the job's conversation and of the response cache."""

    def __init__(self, client: redis.Redis, settings: Settings, job: Job) -> None:
        self.job = job
        self.settings = settings
        self.conversations = Conversations(client, settings.conversation_ttl_s)
        self.cache = ResponseCache(client, settings)
        self.messages: list[Message] = list(job.messages)
        self.options: ChatOptions = job.options
        self.history: History | None = None
        self.digest: str | None = None
        self.cached: CachedAnswer | None = None
        self.events: list[ProviderEvent] = []

    def load(self) -> None:
        """Read the conversation (so a job sees every turn finished before it ran) and the cache."""
        job = self.job
        if job.conversation is not None:
            turns = self.conversations.turns(job.tenant, job.conversation)
            facts = model_facts(job.provider, job.model, None, load_overrides(self.settings.models_file))
            budget = prompt_budget(job, self.settings.conversation_max_tokens, facts)
            self.history = assemble(turns, job, budget, message_counter(job.provider, job.model))
            self.messages = self.history.messages
            self.options = history_options(job.options, self.history)
        if mode_for(job, self.settings) is not None:
            self.digest = request_key(job.provider, job.model, self.messages, self.options)
            self.cached = self.cache.get(job.tenant, self.digest)

    def start_fields(self) -> dict[str, Any]:
        """Extra fields of the `start` stream message: `cached`, and `conversation` (turns sent, trimmed)."""
        fields = self.result_fields()
        return {k: v for k, v in fields.items() if v}

    def result_fields(self) -> dict[str, Any]:
        conversation = self.history.info(self.job.conversation or "") if self.history else None
        return {"cached": self.cached is not None, "conversation": conversation}

    def replay(self, on_event: Callable[[ProviderEvent], None]) -> None:
        """Feed the cached answer's events to the runner, as a provider's stream would."""
        assert self.cached is not None
        for event in self.cached.events:
            on_event(event)

    def record(self, event: ProviderEvent) -> None:
        if self.digest is not None and self.cached is None and recordable(event):
            self.events.append(event)

    def succeeded(self, result: JobResult, owner: str) -> None:
        """Store the answer in the cache and the turn in the conversation, before the result is written
        (a caller who sees the result can send the next turn at once)."""
        job = self.job
        if self.digest is not None and self.cached is None:
            self.cache.put(job.tenant, self.digest, CachedAnswer(provider=job.provider, model=job.model,
                                                                 stored_at=time.time(), events=self.events))
        if job.conversation is not None:
            self.conversations.append(job, answer_message(result.text, result.tool_calls), owner)

    def failed(self) -> None:
        """The job ended without an answer: the conversation stays as it was, free for the next job."""
        if self.job.conversation is not None:
            self.conversations.release(self.job.tenant, self.job.conversation, self.job.job_id)


def history_options(options: ChatOptions, history: History) -> ChatOptions:
    """A job that offers no tools, on a history holding tool calls, still sends the conversation's tools,
    with `tool_choice` none unless it chose otherwise: Anthropic refuses `tool_use` and `tool_result`
    blocks in a request that defines no tools (Messages API, "Tool use")."""
    if options.tools or options.response_schema or not history.tools:
        return options
    return options.model_copy(update={"tools": history.tools, "tool_choice": options.tool_choice or "none"})
