"""Thousands of malformed jobs at the producer's edge: each is accepted or refused with a
ConfigurationError that names a field; nothing else ever escapes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import Job
from multillm.common.validation import parse
from multillm.producers.client import validate_job

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)
messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "robot", ""]),
                                           "content": st.one_of(st.text(max_size=50), values)},
                                          optional={"tool_call_id": st.text(max_size=8), "tool_calls": values}),
                    max_size=4)
jobs = st.fixed_dictionaries(
    {},
    optional={"provider": st.one_of(st.sampled_from(["openai", "anthropic", "google", "nope"]), values),
              "model": st.one_of(st.sampled_from(["gpt-4o", "claude-2.1", "gemini-pro", "x"]), values),
              "messages": st.one_of(messages, values),
              "options": st.one_of(st.dictionaries(st.sampled_from(["temperature", "max_tokens", "top_p", "stop",
                                                                    "tools", "json_mode", "bogus"]), values), values),
              "job_id": st.one_of(st.text(max_size=140), values), "tenant": values, "deadline_s": values,
              "max_attempts": values, "metadata": values})


def submit_like(data: Any) -> Job | None:
    """What MultiLLM.submit_job does before touching Redis."""
    return validate_job(parse(Job, data))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs)
def test_malformed_jobs_are_refused_with_a_field_named_or_accepted(data):
    try:
        job = submit_like(data)
    except ConfigurationError as exc:
        text = str(exc)
        assert text and ":" in text  # "<field>: <problem>"
        return
    assert job is not None and job.messages and job.provider in ("openai", "anthropic", "google")
