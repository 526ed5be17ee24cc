"""How far the characters / 4 rule (the quota's old prompt estimate) was from the tokens OpenAI
bills, over a dataset's prompts: each prompt's chat as OpenAI counts it in o200k_base (what the
quota now reserves for OpenAI-family models, `common/tokens.py`) against ceil(characters / 4). The
text's own tokens, without the chat's per-message overhead, are reported too."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from multillm.common.schemas import ChatOptions, Message
from multillm.common.tokens import chat_tokens
from multillm.producers.batch.input import read_lines

SAMPLE = Path(__file__).parents[1] / "batch" / "data" / "sample.jsonl"


def bench_token_estimate(path: Path = SAMPLE) -> dict[str, Any]:
    errors: list[float] = []
    billed_total = estimated_total = text_total = 0
    for line in read_lines(path):
        messages = [Message.model_validate(m) for m in line.messages]
        billed = chat_tokens(messages, ChatOptions(), "o200k_base")
        estimated = math.ceil(sum(len(m.text()) for m in messages) / 4)
        errors.append((estimated - billed) / billed)
        billed_total += billed
        text_total += sum(chat_tokens([m], ChatOptions()) - 7 for m in messages)  # the text alone, no chat overhead
        estimated_total += estimated
    return {"dataset": path.name, "prompts": len(errors), "o200k_tokens": billed_total,
            "chars_over_4_tokens": estimated_total, "o200k_text_only_tokens": text_total,
            "total_error_pct": 100 * (estimated_total - billed_total) / billed_total,
            "mean_abs_error_pct": 100 * statistics.fmean(abs(e) for e in errors),
            "worst_error_pct": 100 * max(errors, key=abs)}
