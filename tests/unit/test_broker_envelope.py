"""What a worker accepts off its queues: Celery's own task messages; anything else is named and refused."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.workers.broker import _body_problem, _envelope_problem, _task_problem

BODY = json.dumps([["job-1"], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
# As Celery 5 writes a task message onto a Redis list (captured from `send_task`).
ENVELOPE = {
    "body": base64.b64encode(BODY.encode()).decode(), "content-encoding": "utf-8", "content-type": "application/json",
    "headers": {"lang": "py", "task": "multillm.chat.openai", "id": "job-1", "shadow": None, "eta": None, "expires": None,
                "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": "job-1",
                "parent_id": None, "argsrepr": "['job-1']", "kwargsrepr": "{}", "origin": "gen1@host",
                "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {}},
    "properties": {"correlation_id": "job-1", "reply_to": "r", "delivery_mode": 2, "priority": 0,
                   "delivery_info": {"exchange": "", "routing_key": "multillm.openai"}, "body_encoding": "base64",
                   "delivery_tag": "5a0e5b4e"},
}
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner,
                                                                                                max_size=3)), max_leaves=8)


def on_a_task_queue(envelope: object) -> str | None:
    return _envelope_problem(envelope) or _task_problem(envelope)  # type: ignore[arg-type]


def test_a_celery_task_message_is_accepted():
    assert on_a_task_queue(ENVELOPE) is None and _body_problem(BODY) is None


def test_a_plain_kombu_message_passes_where_no_task_is_expected():
    """Reply queues of `celery inspect` and other kombu users carry messages that are no task."""
    plain = copy.deepcopy(ENVELOPE)
    plain["headers"] = {}
    assert _envelope_problem(plain) is None and _task_problem(plain)


@pytest.mark.parametrize(("path", "value"), [
    (("headers", "task"), None), (("headers", "id"), 7), (("headers", "timelimit"), "soon"), (("headers", "eta"), 3),
    (("headers", "retries"), "x"), (("properties", "delivery_tag"), None), (("properties", "delivery_info"), []),
    (("content-type",), "application/x-python-serialize"), (("headers",), []), (("body",), None),
    (("headers", "task"), "celery.chord_unlock"), (("headers", "eta"), "tomorrow"), (("headers", "expires"), "never"),
])
def test_a_wrong_field_is_named(path, value):
    envelope = copy.deepcopy(ENVELOPE)
    target = envelope
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert on_a_task_queue(envelope)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '[[], {}, {"callbacks": [{"task": "x"}]}]', '{"a": 1}', "[[], [], {}]"])
def test_a_body_that_is_not_args_kwargs_embed_is_refused(body):
    assert _body_problem(body)


@given(json_values)
def test_any_json_is_judged_without_raising(value):
    on_a_task_queue(value)
    _body_problem(json.dumps(value))
