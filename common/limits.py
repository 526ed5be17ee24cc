"""How large a job may be: the whole record and every field that can grow, read from `MULTILLM_MAX_*`.

The defaults fit what providers accept in one request (one 20 MB image, a long conversation) and
keep one job from holding much more than that in Redis. Producers refuse a job over a limit at submit
(a ConfigurationError naming the field); a worker refuses a record that reached its queue some other
way with an error result, before parsing it when the record alone is too large.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

LIMIT_VARS = {
    "MULTILLM_MAX_JOB_BYTES": "limits.max_job_bytes",
    "MULTILLM_MAX_MESSAGES": "limits.max_messages",
    "MULTILLM_MAX_TOTAL_CHARS": "limits.max_total_chars",
    "MULTILLM_MAX_IMAGE_DATA_CHARS": "limits.max_image_data_chars",
    "MULTILLM_MAX_TOOLS": "limits.max_tools",
    "MULTILLM_MAX_TOOL_SCHEMA_CHARS": "limits.max_tool_schema_chars",
    "MULTILLM_MAX_TOOL_DESCRIPTION_CHARS": "limits.max_tool_description_chars",
    "MULTILLM_MAX_TOOL_ARGUMENTS_CHARS": "limits.max_tool_arguments_chars",
    "MULTILLM_MAX_STOP_CHARS": "limits.max_stop_chars",
    "MULTILLM_MAX_METADATA_ENTRIES": "limits.max_metadata_entries",
    "MULTILLM_MAX_METADATA_CHARS": "limits.max_metadata_chars",
    "MULTILLM_URL_ALLOWLIST": "limits.url_allowlist",
}


class InputLimits(BaseModel):
    """Limits on what a job may hold; `url_allowlist` lets URLs name these internal hosts or networks."""

    model_config = ConfigDict(extra="forbid")
    max_job_bytes: int = Field(default=24_000_000, gt=0)  # the serialised record
    max_messages: int = Field(default=500, gt=0)
    max_total_chars: int = Field(default=2_000_000, gt=0)  # message text, tool-call arguments, system prompt
    max_image_data_chars: int = Field(default=20_000_000, gt=0)  # one data: URL
    max_tools: int = Field(default=128, gt=0)
    max_tool_schema_chars: int = Field(default=64_000, gt=0)  # one tool's parameters, as JSON
    max_tool_description_chars: int = Field(default=8_000, gt=0)
    max_tool_arguments_chars: int = Field(default=64_000, gt=0)  # one tool call's arguments in a message
    max_stop_chars: int = Field(default=500, gt=0)  # one stop sequence
    max_metadata_entries: int = Field(default=32, ge=0)
    max_metadata_chars: int = Field(default=4_000, gt=0)  # keys and values of metadata together
    url_allowlist: list[str] = Field(default_factory=list)

    @field_validator("url_allowlist", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
