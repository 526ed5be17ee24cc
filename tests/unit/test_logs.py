"""The log filter masks key-shaped strings and leaves the rest of the line alone."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common.logs import SecretFilter, mask_secrets

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
