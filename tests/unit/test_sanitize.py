"""Input limits and sanitisation: what is refused names the field; text loses control characters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import Job
from multillm.common.sanitize import MAX_MESSAGES, check_image_url, clean_text, sanitize_job
from multillm.common.urlcheck import URLPolicy

# A DNS of our own: the unit tests must not depend on this machine's resolver.
DNS = {"example.com": ["93.184.215.14"], "metadata.internal": ["169.254.169.254"]}
POLICY = URLPolicy(resolver=lambda host: DNS.get(host, []))


def job(**kw) -> Job:
    data = {"provider": "openai", "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **kw}
    return Job.model_validate(data)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.png", "http://localhost/x.png", "http://10.0.0.7/a.png", "http://192.168.1.1/a.png",
    "http://[::1]/a.png", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd", "ftp://example.com/a.png",
    "http://user:pw@example.com/a.png", "data:text/html;base64,PGgxPg==", "data:image/png;base64,not base64!",
    "http://metadata.internal/x",
])
def test_image_urls_to_internal_places_or_odd_schemes_are_refused(url):
    with pytest.raises(ConfigurationError, match=r"messages\.0\.content\.1\.url"):
        check_image_url(url, "messages.0.content.1.url", POLICY)


@pytest.mark.parametrize("url", ["https://93.184.215.14/cat.png", "data:image/png;base64,iVBORw0KGgo=",
                                 "https://example.com/cat.png"])
def test_public_and_data_image_urls_pass(url):
    check_image_url(url, "f", POLICY)


def test_limits_name_the_field():
    with pytest.raises(ConfigurationError, match="messages"):
        sanitize_job(job(messages=[{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)))
    with pytest.raises(ConfigurationError, match=r"options\.max_tokens"):
        sanitize_job(job(options={"max_tokens": 10**6}))
    assert sanitize_job(job(model="gpt-5", options={"max_tokens": 10**6}))  # not catalogued: preflight checks it
    tool = {"name": "t", "parameters": {"type": "array"}}
    with pytest.raises(ConfigurationError, match=r"options\.tools\.0\.parameters"):
        sanitize_job(job(options={"tools": [tool]}))


def test_control_characters_are_removed_but_whitespace_kept():
    cleaned = sanitize_job(job(messages=[{"role": "user", "content": "a\x00b\x1bc\td\ne\x7f"}],
                               options={"system_prompt": "s\x07y"}))
    assert cleaned.messages[0].content == "abc\td\ne" and cleaned.options.system_prompt == "sy"


@settings(max_examples=300)
@given(st.text())
def test_clean_text_is_idempotent_and_leaves_no_controls(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in once)


# Every field that can grow has a limit, and the whole record too.

BIG = "x" * 70_000
OVERSIZED = [
    ("metadata", {"metadata": {f"k{i}": "v" for i in range(40)}}),
    ("metadata", {"metadata": {"k": "v" * 5_000}}),
    (r"messages\.1\.tool_calls\.0\.arguments", {"messages": [{"role": "user", "content": "hi"},
                                                             {"role": "assistant", "tool_calls": [
                                                                 {"id": "c1", "name": "f", "arguments": BIG}]}]}),
    (r"options\.tools\.0\.description", {"options": {"tools": [{"name": "f", "description": BIG[:9_000]}]}}),
    (r"options\.tool_choice", {"options": {"tool_choice": "y" * 1_000}}),
    (r"options\.stop\.0", {"options": {"stop": ["s" * 600]}}),
    (r"options\.tools\.0\.parameters", {"options": {"tools": [{"name": "f", "parameters": {
        "type": "object", "properties": {f"p{i}": {"type": "string", "description": "d" * 100} for i in range(700)}}}]}}),
]


@pytest.mark.parametrize(("field", "data"), OVERSIZED)
def test_each_oversized_field_is_refused_naming_it(field, data):
    with pytest.raises(ConfigurationError, match=f"^{field}"):
        sanitize_job(job(**data))


def test_the_whole_record_has_a_limit_of_its_own():
    from multillm.common.limits import InputLimits

    small = InputLimits(max_job_bytes=2_000)
    sanitize_job(job(messages=[{"role": "user", "content": "x" * 1_000}]), small)
    with pytest.raises(ConfigurationError, match=r"^job: [\d,]+ bytes serialised, at most 2,000"):
        sanitize_job(job(messages=[{"role": "user", "content": "x" * 3_000}]), small)


def test_limits_are_settings():
    from multillm.common.settings import load_settings

    settings = load_settings({"MULTILLM_MAX_STOP_CHARS": "3", "MULTILLM_URL_ALLOWLIST": "10.0.0.0/8,img.internal"})
    assert settings.limits.max_stop_chars == 3 and settings.limits.url_allowlist == ["10.0.0.0/8", "img.internal"]
    with pytest.raises(ConfigurationError, match=r"options\.stop\.0"):
        sanitize_job(job(options={"stop": ["four"]}), settings.limits)
    with pytest.raises(ConfigurationError, match="MULTILLM_MAX_JOB_BYTES"):
        load_settings({"MULTILLM_MAX_JOB_BYTES": "lots"})
