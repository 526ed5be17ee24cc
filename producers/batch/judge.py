"""Scoring by a judge model: the request that asks it to compare an answer with the expected one,
and the strict reading of its verdict.

The judge is asked for JSON with a response schema (`response_schema`: OpenAI-compatible
`response_format` json_schema, Gemini `responseJsonSchema`, Anthropic a forced tool), and its reply is
parsed with pydantic: anything that is not exactly `{"verdict": "pass"|"fail", "reason": "..."}` is a
judge error, never a pass.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import JobResult
from multillm.common.providers import get_spec

SYSTEM = ("You grade answers against a reference answer. The verdict is pass when the answer gives the same "
          "answer as the reference (wording, case, units written differently and extra explanation do not "
          "matter) and fail when it gives a different or no answer. Reply in JSON only.")
MAX_TOKENS = 300  # a verdict and one sentence, with room for a verbose judge


class Verdict(BaseModel):
    """What the judge must reply, and nothing else."""

    model_config = ConfigDict(extra="forbid")
    verdict: Literal["pass", "fail"]
    reason: str


def verdict_schema() -> dict[str, Any]:
    """Verdict as a JSON Schema that OpenAI's strict mode accepts (closed, every property required)."""
    return {"type": "object", "additionalProperties": False, "required": ["verdict", "reason"],
            "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]},
                           "reason": {"type": "string", "description": "one sentence"}}}


def parse_judge(spec: str) -> tuple[str, str]:
    """`provider=model` or `provider` (its default model) -> (provider, model); errors name --judge."""
    provider, _, model = spec.partition("=")
    try:
        info = get_spec(provider.strip())
        return info.id, model.strip() or info.default_model
    except ConfigurationError as exc:
        raise ConfigurationError(f"--judge: {exc}") from None


def judge_request(question: str, expected: str, answer: str) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """(messages, chat options) of one judge job."""
    prompt = (f"Question:\n{question}\n\nReference answer:\n{expected}\n\nAnswer to grade:\n{answer}\n\n"
              'Reply with a JSON object: {"verdict": "pass" or "fail", "reason": "<one sentence>"}.')
    options = {"system_prompt": SYSTEM, "temperature": 0.0, "max_tokens": MAX_TOKENS,
               "response_schema": verdict_schema()}
    return [{"role": "user", "content": prompt}], options


def question_of(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (content may be a string or a list of parts)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def judgement(result: JobResult) -> dict[str, Any]:
    """The judge's part of a results.jsonl row: verdict and reason, or the error; its cost and tokens."""
    out: dict[str, Any] = {"provider": result.provider, "model": result.model, "verdict": None, "reason": None,
                           "error": None, "cost_usd": result.cost_usd, "input_tokens": result.usage.input_tokens,
                           "output_tokens": result.usage.output_tokens, "job_id": result.job_id}
    if result.status != "succeeded":
        failure = result.error or {}
        out["error"] = {"code": failure.get("code", result.status), "message": failure.get("message", "")}
        return out
    try:
        verdict = Verdict.model_validate_json(result.text)
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors()[:3])
        out["error"] = {"code": "unparseable_verdict", "message": f"{reason} (reply: {result.text[:200]!r})"}
        return out
    out["verdict"], out["reason"] = verdict.verdict, verdict.reason
    return out


def judge_error(code: str, message: str, provider: str, model: str) -> dict[str, Any]:
    """A judgement that never reached the judge (the judge job itself was refused)."""
    return {"provider": provider, "model": model, "verdict": None, "reason": None,
            "error": {"code": code, "message": message}, "cost_usd": 0.0, "input_tokens": 0,
            "output_tokens": 0, "job_id": None}
