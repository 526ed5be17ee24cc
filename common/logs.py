"""A logging filter that masks anything shaped like a provider key, wherever a log line comes from."""

from __future__ import annotations

import logging
import re

# sk-… (OpenAI, Anthropic sk-ant-, OpenRouter sk-or-), xai-…, hf_…, GitHub ghp_/github_pat_, Google AIza…,
# and whatever follows "Bearer ".
KEY_SHAPES = re.compile(
    r"(?:sk-(?:ant-|or-)?[A-Za-z0-9_\-]{8,}|xai-[A-Za-z0-9]{8,}|hf_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{8,}"
    r"|github_pat_[A-Za-z0-9_]{8,}|AIza[0-9A-Za-z_\-]{20,}|(?<=Bearer )[A-Za-z0-9._\-]{8,})"
)


def mask_secrets(text: str) -> str:
    return KEY_SHAPES.sub(lambda m: m.group(0)[:4] + "…[masked]", text)


class SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_secret_filter(logger: logging.Logger | None = None) -> None:
    """On every handler of `logger` (default: root), so records from any library pass through it."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())
