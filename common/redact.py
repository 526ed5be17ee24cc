"""Redaction: every key in use is registered here, and text that leaves a worker or the command line
(results, stream messages, logs, error messages, Flower's task events, the dead-letter list) passes
through `redact` first; a model's own text (deltas, the answer in a result) through `redact_values`,
which masks the registered keys and leaves key-like words alone.

Two nets. By value: each registered key (environment keys when settings load, vault keys when they
are decrypted or stored, any key a provider client is built with) is replaced wherever it appears,
as written, URL-encoded or JSON-escaped, whatever its shape. By shape: text that looks like a key
(`sk-…`, `xai-…`, `hf_…`, `ghp_…`, `AIza…`, after `Bearer `) or sits after a credential header or
query name (`x-api-key: …`, `authorization=…`, `?key=…`) is masked even if this process never saw
it. Keys shorter than MIN_SECRET_CHARS are not registered: such a value would mask ordinary words.

One registry per process: keys arrive in several places (settings, the vault, provider clients) and
every output path must see all of them.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import quote

MIN_SECRET_CHARS = 8
REDACTED = "[redacted]"

# sk-… (OpenAI, Anthropic sk-ant-, OpenRouter sk-or-), xai-…, hf_…, GitHub ghp_/github_pat_, Google AIza…,
# and whatever follows "Bearer ".
KEY_SHAPES = re.compile(
    r"(?:sk-(?:ant-|or-)?[A-Za-z0-9_\-]{8,}|xai-[A-Za-z0-9]{8,}|hf_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{8,}"
    r"|github_pat_[A-Za-z0-9_]{8,}|AIza[0-9A-Za-z_\-]{20,}|(?<=Bearer )[A-Za-z0-9._\-]{8,})"
)
# A credential header or query parameter and its value, in an echoed request, a header dump or a URL:
# `x-api-key: v`, `'x-goog-api-key': 'v'`, `"authorization":"Basic v"`, `?key=v`. The value stops at
# quotes, backslashes and separators, so masking inside JSON text leaves it valid JSON.
CREDENTIAL_FIELDS = re.compile(
    r"(?i)((?:x-api-key|x-goog-api-key|api-key|api_key|apikey|authorization|proxy-authorization)"
    r"[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?|[?&]key=)([^\s\"'\\,;&}\[\]]{4,})"
)


def _mask_shape(match: re.Match[str]) -> str:
    return match.group(0)[:4] + "…[masked]"


class Redactor:
    """The keys this process knows, and the masking of text and data that may contain them."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        """Mask `secret` from now on, in every form it is likely to be echoed in."""
        if not secret or len(secret) < MIN_SECRET_CHARS:
            return
        forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
        with self._lock:
            if forms <= self._forms:
                return
            self._forms |= forms
            # Longest first, so a key that contains another registered key is masked whole.
            alternatives = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives)))
            self._ordered = tuple(alternatives)

    def known(self, secret: str) -> bool:
        return secret in self._forms

    def redact_values(self, text: str) -> str:
        """Only the registered keys masked: for a model's own text, where key-like words are content."""
        pattern, forms = self._pattern, self._ordered  # read once: register() may swap them from another thread
        # Substring tests first: C-speed, several times faster than the regex on text without a key,
        # which is nearly all text (every stream chunk passes here).
        if pattern is None or not any(form in text for form in forms):
            return text
        return pattern.sub(REDACTED, text)

    def redact(self, text: str) -> str:
        """Registered keys, credential fields and key shapes masked: for error text, logs, anything echoed."""
        text = self.redact_values(text)
        text = CREDENTIAL_FIELDS.sub(lambda m: m.group(1) + REDACTED, text)
        return KEY_SHAPES.sub(_mask_shape, text)

    def redact_data(self, value: Any) -> Any:
        """A copy of `value` (JSON-like: dicts, lists, strings, numbers) with every string redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.redact_data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_data(item) for item in value]
        return value


REDACTOR = Redactor()
register = REDACTOR.register
redact = REDACTOR.redact
redact_values = REDACTOR.redact_values
redact_data = REDACTOR.redact_data
