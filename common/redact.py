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

import ahocorasick

MIN_SECRET_CHARS = 8
SCAN_MAX_FORMS = 32  # up to this many registered forms, plain substring tests decide whether to search
REDACTED = "[redacted]"

# sk-… (OpenAI, Anthropic sk-ant-, OpenRouter sk-or-), xai-…, hf_…, GitHub ghp_/github_pat_, Google AIza…,
# gateway tenant keys mlm_…, and whatever follows "Bearer ".
KEY_SHAPES = re.compile(
    r"(?:sk-(?:ant-|or-)?[A-Za-z0-9_\-]{8,}|mlm_[A-Za-z0-9_\-]{8,}|xai-[A-Za-z0-9]{8,}|hf_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{8,}"
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
        self._ordered: tuple[str, ...] = ()
        self._automaton: ahocorasick.Automaton | None = None
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
            # Aho-Corasick: one pass over the text whatever the number of keys (a worker serving many
            # tenants knows many); built anew and swapped in whole, so readers never see it half made.
            automaton = ahocorasick.Automaton()
            for form in self._forms:
                automaton.add_word(form, len(form))
            automaton.make_automaton()
            self._automaton, self._ordered = automaton, tuple(sorted(self._forms, key=len, reverse=True))

    def known(self, secret: str) -> bool:
        return secret in self._forms

    def redact_values(self, text: str) -> str:
        """Only the registered keys masked: for a model's own text, where key-like words are content."""
        automaton, forms = self._automaton, self._ordered  # read once: register() may swap them
        if automaton is None:
            return text
        # A few keys (the usual case): substring tests, C-speed, cheaper than starting the automaton on
        # text that holds no key, which is nearly all text (every stream chunk passes here).
        if len(forms) <= SCAN_MAX_FORMS and not any(form in text for form in forms):
            return text
        parts, start = [], 0
        for end, length in automaton.iter_long(text):  # longest matches, left to right, not overlapping
            parts += [text[start:end - length + 1], REDACTED]
            start = end + 1
        return "".join(parts) + text[start:] if parts else text

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
