"""Log lines: key-shaped strings masked and the rest kept; JSON off a terminal with the running job's fields."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common import constants
from multillm.common.jobs import Job
from multillm.common.logs import HumanFormatter, SecretFilter, install_secret_filter, job_context, mask_secrets
from multillm.common.run import Runtime, run_job
from multillm.common.schemas import ChatOptions, Message
from multillm.common.settings import load_settings
from multillm.producers.simulator import SimulatorConfig, SimulatorServer

KEYS = ["sk-proj-abcdefghijklmnop", "sk-ant-api03-abcdefghijkl", "sk-or-v1-abcdefghijkl", "xai-abcdefghijklmnop",
        "hf_abcdefghijklmnop", "ghp_abcdefghijklmnopqrst", "github_pat_abcdefghijkl",
        "AIzaSyAbcdefghijklmnopqrstuvwx"]


@pytest.mark.parametrize("key", KEYS)
def test_each_key_shape_is_masked_and_the_rest_kept(key):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling with %s for job %s", (key, "j1"), None)
    SecretFilter().filter(record)
    message = record.getMessage()
    assert key not in message and "for job j1" in message and "calling with" in message


def test_bearer_tokens_are_masked():
    assert "s3cr3t-token-value" not in mask_secrets("Authorization: Bearer s3cr3t-token-value")


@given(st.text(alphabet=st.characters(blacklist_characters="-_"), max_size=80))
def test_text_without_key_shapes_is_untouched(text):
    if "sk" not in text and "hf" not in text and "gh" not in text and "xai" not in text and "AIza" not in text \
            and "Bearer" not in text:
        assert mask_secrets(text) == text


# Structured lines: JSON off a terminal, the running job's fields, masking on the finished line.

SENTINEL = "sk-ant-api03-SENTINELkeyNEVERinLOGS0001"
# Masked by its shape, or by value once a test in this process has registered it (multillm.common.redact).
MASKS = ("sk-a…[masked]", "[redacted]")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """A handler on the `multillm` logger writing to a buffer (not a terminal), set up as workers do."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("multillm")
    logger.addHandler(handler)
    install_secret_filter(logger)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_logged_inside_a_job_is_json_with_the_job_fields(json_lines):
    with SimulatorServer(config=SimulatorConfig(ttft_ms=0, tokens_per_second=0)) as sim:
        settings = load_settings({"ANTHROPIC_BASE_URL": sim.base_urls()["anthropic"], "ANTHROPIC_API_KEY": SENTINEL})
        rt = Runtime(settings, client=fakeredis.FakeRedis())
        # Anthropic has no frequency_penalty: the provider client drops it with a warning, inside the job.
        job = Job(provider="anthropic", model="claude-3-5-haiku-latest", messages=[Message(role="user", content="hi")],
                  options=ChatOptions(max_tokens=8, frequency_penalty=0.5))
        rt.redis.set(constants.job(job.job_id), job.model_dump_json())
        try:
            assert run_job(rt, job.job_id).status == "succeeded"
        finally:
            rt.leases.stop()
    lines = parsed(json_lines)
    dropped = [line for line in lines if "frequency_penalty" in line["message"]]
    assert dropped, lines
    line = dropped[0]
    assert line["level"] == "WARNING" and line["logger"].startswith("multillm.")
    assert (line["job_id"], line["provider"], line["model"], line["attempt"]) == \
        (job.job_id, "anthropic", "claude-3-5-haiku-latest", 1)
    assert line["ts"].endswith("Z")
    assert SENTINEL not in json_lines.getvalue()


def test_outside_a_job_a_line_has_no_job_fields(json_lines):
    logging.getLogger("multillm.test").warning("between jobs")
    (line,) = parsed(json_lines)
    assert line["message"] == "between jobs" and not set(line) & {"job_id", "provider", "model", "attempt"}


def test_keys_in_messages_and_tracebacks_stay_masked_in_json(json_lines):
    log = logging.getLogger("multillm.test")
    with job_context("job-7", "openai", "gpt-4o-mini", 3):
        log.warning("calling with %s", SENTINEL)
        try:
            raise RuntimeError(f"provider said: bad key {SENTINEL}; Authorization: Bearer abc.def-ghi_jkl")
        except RuntimeError:
            log.exception("call failed")
    lines = parsed(json_lines)
    assert [line["job_id"] for line in lines] == ["job-7", "job-7"] and lines[1]["attempt"] == 3
    assert "RuntimeError" in lines[1]["exc"] and any(mark in lines[1]["exc"] for mark in MASKS)
    assert SENTINEL not in json_lines.getvalue() and "abc.def-ghi_jkl" not in json_lines.getvalue()


def test_fields_given_with_extra_are_kept_and_threads_do_not_share_a_job(json_lines):
    log = logging.getLogger("multillm.test")
    seen: list[str] = []

    def other_slot() -> None:
        log.warning("other slot")
        seen.append("done")

    with job_context("job-a", "google", "gemini-2.0-flash", 1):
        log.warning("reaper", extra={"job_id": "job-b"})
        worker = threading.Thread(target=other_slot)
        worker.start()
        worker.join(10)
    assert seen == ["done"]
    by_message = {line["message"]: line for line in parsed(json_lines)}
    assert by_message["reaper"]["job_id"] == "job-b" and by_message["reaper"]["provider"] == "google"
    assert "job_id" not in by_message["other slot"]


def test_a_terminal_gets_the_human_line_with_the_job_and_masking():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("multillm.human")
    logger.addHandler(handler)
    try:
        install_secret_filter(logger)
        with job_context("job-9", "grok", "grok-3-mini", 2):
            logger.warning("using %s", SENTINEL)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert isinstance(handler.formatter, HumanFormatter)
    assert any(f"WARNING multillm.human [job-9 grok/grok-3-mini #2]: using {mark}" in text for mark in MASKS)
    assert SENTINEL not in text


def test_a_handler_someone_else_subclassed_keeps_its_format_but_is_still_masked():
    class Shipper(logging.StreamHandler):
        pass

    stream = io.StringIO()
    handler = Shipper(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
    logger = logging.getLogger("multillm.shipped")
    logger.addHandler(handler)
    try:
        install_secret_filter(logger)
        logger.warning("key %s", SENTINEL)
    finally:
        logger.removeHandler(handler)
    assert any(stream.getvalue().startswith(f"WARNING|key {mark}") for mark in MASKS)
    assert SENTINEL not in stream.getvalue()
