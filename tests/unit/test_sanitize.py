"""Input limits and sanitisation: what is refused names the field; text loses control characters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import Job
from multillm.common.sanitize import MAX_MESSAGES, check_image_url, clean_text, sanitize_job
from multillm.common.schemas import ChatOptions
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
        sanitize_job(job(options=ChatOptions(max_tokens=10**6)))
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
