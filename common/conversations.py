"""Conversations kept by id: each tenant's turns in Redis, and the history a job sends before its
own messages, trimmed to the model's context window.

A turn is one succeeded job: the messages it brought and the answer it got (text and tool calls, in
the provider-neutral `Message` schema, so any provider can continue a conversation another began).
Trimming drops whole exchanges, oldest first: an exchange is a turn plus the turns that begin with
tool results answering its tool calls, so a tool call is never sent without its result nor a result
without its call. System messages of dropped turns are kept.

One job at a time per conversation: `claim` (at submit) refuses a second job while the first has no
result, and the worker gives the conversation back when it appends the answer or the job fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field

from multillm.common import constants
from multillm.common.errors import ConfigurationError, ContextLengthExceeded, ConversationBusy
from multillm.common.jobs import Job
from multillm.common.model_facts import ModelFacts, model_facts
from multillm.common.schemas import ChatOptions, Message, Tool, ToolCall
from multillm.common.tokens import REPLY_PRIMING, chat_tokens, openai_encoding

DEFAULT_OUTPUT_RESERVE = 4096  # as the quota reserves when a job sets no max_tokens
IMAGE_TOKENS = 1_000  # an image costs each provider a different amount; this is above most
MESSAGE_OVERHEAD = 4  # role and separators: OpenAI's documented per-message cost (openai-cookbook)


class Turn(BaseModel):
    """One succeeded job of a conversation."""

    model_config = ConfigDict(extra="forbid")
    job_id: str
    provider: str
    model: str
    at: float
    messages: list[Message]
    answer: Message | None = None
    tools: list[Tool] | None = None  # the tools the job offered

    def all_messages(self) -> list[Message]:
        return [*self.messages, *([self.answer] if self.answer else [])]


class ConversationInfo(BaseModel):
    """What a caller reads about a stored conversation."""

    id: str
    tenant: str
    turns: int
    created_at: float | None = None
    updated_at: float | None = None
    last_job: str | None = None
    history: list[Turn] = Field(default_factory=list)


Counter = Callable[[Message], int]


def count_tokens(message: Message) -> int:
    """An estimate: one token per four characters plus the per-message overhead.

    Used where no tokenizer is at hand: Anthropic's and Gemini's tokenizers are not published, and
    their count endpoints answer for a whole request, not for each stored turn."""
    chars = len(message.text()) + sum(len(c.name) + len(c.arguments) for c in message.tool_calls)
    return MESSAGE_OVERHEAD + -(-chars // 4) + IMAGE_TOKENS * len(message.images())


def message_counter(provider: str, model: str) -> Counter:
    """Tokens of one message for `model`: exact in the model's encoding for OpenAI-family models
    (the same accounting OpenAI bills, `common/tokens.py`), the estimate otherwise."""
    encoding = openai_encoding(provider, model)
    if encoding is None:
        return count_tokens
    empty = ChatOptions()
    return lambda message: chat_tokens([message], empty, encoding) - REPLY_PRIMING


def tokens_of(messages: Iterable[Message], count: Counter = count_tokens) -> int:
    return sum(count(m) for m in messages)


@dataclass
class History:
    """What a job sends: the kept history, then its own messages; and what was left out."""

    messages: list[Message]
    turns: int  # turns stored
    sent_turns: int
    trimmed_messages: int = 0
    tokens: int = 0  # estimated prompt tokens sent
    budget: int = 0  # tokens the prompt may take: the context window less the output reserved
    trimmed_turn_ids: list[str] = field(default_factory=list)
    tools: list[Tool] | None = None  # the latest tools offered in the turns sent, when they hold tool calls

    def info(self, conversation_id: str) -> dict[str, Any]:
        return {"id": conversation_id, "turns": self.turns, "sent_turns": self.sent_turns,
                "trimmed_turns": self.turns - self.sent_turns, "trimmed_messages": self.trimmed_messages,
                "prompt_tokens": self.tokens, "budget_tokens": self.budget}


def exchanges(turns: list[Turn]) -> list[list[Turn]]:
    """Turns grouped so that a turn opening with tool results stays with the turn that called the tools."""
    groups: list[list[Turn]] = []
    for turn in turns:
        if groups and turn.messages and turn.messages[0].role == "tool":
            groups[-1].append(turn)
        else:
            groups.append([turn])
    return groups


def prompt_budget(job: Job, max_tokens: int | None = None, facts: ModelFacts | None = None) -> int:
    """Tokens the prompt may take: the model's context window (or `max_tokens`, if smaller) less the
    output the job reserves and its system prompt."""
    facts = facts or model_facts(job.provider, job.model)
    window = facts.context_length or 128_000
    reserve = job.options.max_tokens or min(facts.max_output_tokens or DEFAULT_OUTPUT_RESERVE, DEFAULT_OUTPUT_RESERVE)
    budget = min(window - reserve, max_tokens or window)
    system = job.options.system_prompt or ""
    return budget - (MESSAGE_OVERHEAD + -(-len(system) // 4) if system else 0)


def assemble(turns: list[Turn], job: Job, budget: int, count: Counter = count_tokens) -> History:
    """The newest exchanges that fit `budget` with the job's messages, each message's tokens counted by
    `count`; raises ContextLengthExceeded when the job's own messages (with the exchange they continue,
    if they open with tool results) do not fit."""
    groups = exchanges(turns)
    continues = bool(groups) and job.messages[0].role == "tool"
    required = groups.pop() if continues else []
    need = tokens_of(job.messages, count) + tokens_of((m for t in required for m in t.all_messages()), count)
    if need > budget:
        raise ContextLengthExceeded(f"conversation {job.conversation}: the new messages need about {need:,} tokens, "
                                    f"more than the {budget:,} the model's context leaves", provider=job.provider,
                                    model=job.model, job_id=job.job_id)
    kept: list[list[Turn]] = [required] if required else []
    dropped: list[list[Turn]] = []
    used = need
    for group in reversed(groups):
        size = tokens_of((m for t in group for m in t.all_messages()), count)
        if dropped or used + size > budget:  # once one is dropped, every older one goes too
            dropped.insert(0, group)
            continue
        kept.insert(0, group)
        used += size
    systems = [m for g in dropped for t in g for m in t.all_messages() if m.role == "system"]
    used += tokens_of(systems, count)
    sent = [m for g in kept for t in g for m in t.all_messages()]
    with_tools = any(m.tool_calls or m.role == "tool" for m in sent)
    tools = next((t.tools for g in reversed(kept) for t in reversed(g) if t.tools), None) if with_tools else None
    return History(messages=[*systems, *sent, *job.messages], turns=len(turns), tools=tools,
                   sent_turns=sum(len(g) for g in kept), tokens=used, budget=budget,
                   trimmed_messages=sum(len(t.all_messages()) for g in dropped for t in g) - len(systems),
                   trimmed_turn_ids=[t.job_id for g in dropped for t in g])


# KEYS: turns, meta, busy, lease, index   ARGV: owner, job id, turn json, ttl, now, conversation id
# Appends once per job (the meta hash remembers the last job), only while the attempt holds the job's
# lease, and gives the conversation back in the same step.
_APPEND = """
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return -2 end
if redis.call('HGET', KEYS[2], 'last_job') == ARGV[2] then return 0 end
local n = redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HSETNX', KEYS[2], 'created_at', ARGV[5])
redis.call('HSET', KEYS[2], 'updated_at', ARGV[5], 'last_job', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[6])
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return n
"""

# KEYS: busy   ARGV: job id
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def check_id(conversation_id: str, field_name: str = "conversation") -> str:
    if not conversation_id or len(conversation_id) > 128 or not all(c.isalnum() or c in "_.:-" for c in conversation_id):
        raise ConfigurationError(f"{field_name}: {conversation_id!r} must be 1-128 letters, digits or _.:-")
    return conversation_id


class Conversations:
    """A tenant's conversations in Redis."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self._append = client.register_script(_APPEND)
        self._release = client.register_script(_RELEASE)

    def turns(self, tenant: str, conversation_id: str) -> list[Turn]:
        key = constants.conversation(tenant, conversation_id)
        return [Turn.model_validate_json(raw) for raw in self.redis.lrange(key, 0, -1)]

    def claim(self, tenant: str, conversation_id: str, job_id: str, hold_s: float) -> None:
        """Hold the conversation for `job_id` until it ends; ConversationBusy while another job holds it.

        A holder whose result is stored, or whose job expired, holds nothing any more (a job can end
        without a worker, say cancelled while queued)."""
        busy = constants.conversation_busy(tenant, conversation_id)
        with self.redis.pipeline() as pipe:
            pipe.watch(busy)
            holder = pipe.get(busy)
            holder_id = holder.decode() if isinstance(holder, bytes) else None
            if holder_id and holder_id != job_id and self._unfinished(pipe, holder_id):
                raise ConversationBusy(f"conversation {conversation_id}: job {holder_id} has not finished; "
                                       "submit the next turn once it has")
            pipe.multi()
            pipe.set(busy, job_id, ex=max(1, int(hold_s)))
            try:
                pipe.execute()
            except redis.WatchError:
                raise ConversationBusy(f"conversation {conversation_id}: another job was submitted at the same "
                                       "time") from None

    @staticmethod
    def _unfinished(pipe: Any, job_id: str) -> bool:
        return bool(pipe.exists(constants.job(job_id))) and not pipe.exists(constants.result(job_id))

    def append(self, job: Job, answer: Message | None, owner: str) -> bool:
        """Store the job's turn (once) while `owner` holds the job's lease, and give the conversation back."""
        assert job.conversation is not None
        tenant, cid = job.tenant, job.conversation
        turn = Turn(job_id=job.job_id, provider=job.provider, model=job.model, at=time.time(),
                    messages=job.messages, answer=answer, tools=job.options.tools)
        keys = [constants.conversation(tenant, cid), constants.conversation_meta(tenant, cid),
                constants.conversation_busy(tenant, cid), constants.lease(job.job_id), constants.conversations(tenant)]
        args = [owner, job.job_id, turn.model_dump_json(exclude_defaults=True), self.ttl_s, turn.at, cid]
        return int(self._append(keys=keys, args=args)) > 0

    def release(self, tenant: str, conversation_id: str, job_id: str) -> None:
        self._release(keys=[constants.conversation_busy(tenant, conversation_id)], args=[job_id])

    def info(self, tenant: str, conversation_id: str, with_history: bool = False) -> ConversationInfo | None:
        stored = self.redis.hgetall(constants.conversation_meta(tenant, conversation_id))
        meta = {k.decode(): v.decode() for k, v in stored.items()}
        count = int(self.redis.llen(constants.conversation(tenant, conversation_id)))
        if not count:
            return None
        return ConversationInfo(id=conversation_id, tenant=tenant, turns=count,
                                created_at=float(meta["created_at"]) if "created_at" in meta else None,
                                updated_at=float(meta["updated_at"]) if "updated_at" in meta else None,
                                last_job=meta.get("last_job"),
                                history=self.turns(tenant, conversation_id) if with_history else [])

    def list(self, tenant: str) -> list[ConversationInfo]:
        """The tenant's conversations, most recently used first; expired ones are dropped from the index."""
        index = constants.conversations(tenant)
        self.redis.zremrangebyscore(index, "-inf", time.time() - self.ttl_s)
        found = []
        for raw in self.redis.zrevrange(index, 0, -1):
            info = self.info(tenant, raw.decode())
            if info is None:
                self.redis.zrem(index, raw)
            else:
                found.append(info)
        return found

    def fork(self, tenant: str, source: str, new_id: str, at_turn: int | None = None) -> ConversationInfo:
        """A new conversation holding the first `at_turn` turns of `source` (all of them if None)."""
        check_id(new_id, "new id")
        turns = self.redis.lrange(constants.conversation(tenant, source), 0, -1)
        if not turns:
            raise ConfigurationError(f"conversation {source}: not found (never used, expired or deleted)")
        keep = len(turns) if at_turn is None else at_turn
        if not 1 <= keep <= len(turns):
            raise ConfigurationError(f"turn: must be between 1 and {len(turns)}, got {keep}")
        target = constants.conversation(tenant, new_id)
        if self.redis.exists(target):
            raise ConfigurationError(f"new id: conversation {new_id} already exists")
        now = time.time()
        last = json.loads(turns[keep - 1])["job_id"]
        pipe = self.redis.pipeline()
        pipe.rpush(target, *turns[:keep])
        pipe.hset(constants.conversation_meta(tenant, new_id), mapping={"created_at": now, "updated_at": now,
                                                                         "last_job": last, "forked_from": source})
        pipe.expire(target, self.ttl_s)
        pipe.expire(constants.conversation_meta(tenant, new_id), self.ttl_s)
        pipe.zadd(constants.conversations(tenant), {new_id: now})
        pipe.execute()
        info = self.info(tenant, new_id)
        assert info is not None
        return info

    def delete(self, tenant: str, conversation_id: str) -> bool:
        gone = self.redis.delete(constants.conversation(tenant, conversation_id),
                                 constants.conversation_meta(tenant, conversation_id))
        self.redis.zrem(constants.conversations(tenant), conversation_id)
        return bool(gone)


def answer_message(text: str, tool_calls: list[ToolCall]) -> Message | None:
    """The assistant turn an answer makes; None for an empty answer (providers refuse empty assistant turns)."""
    if not text and not tool_calls:
        return None
    return Message(role="assistant", content=text, tool_calls=tool_calls)
