"""Input limits and sanitisation, applied by producers at submit and again by workers for messages
that reached a queue some other way. Each refusal names the field and the problem.

The limits are settings (`multillm.common.limits`); URLs are judged by `multillm.common.urlcheck`.
"""

from __future__ import annotations

import json
import re

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import Job
from multillm.common.limits import InputLimits
from multillm.common.providers import get_spec
from multillm.common.schemas import Message, Tool
from multillm.common.urlcheck import URLPolicy

DEFAULTS = InputLimits()
MAX_MESSAGES = DEFAULTS.max_messages
MAX_TOTAL_CHARS = DEFAULTS.max_total_chars
MAX_TOOLS = DEFAULTS.max_tools
MAX_TOOL_SCHEMA_CHARS = DEFAULTS.max_tool_schema_chars
MAX_IMAGE_DATA_CHARS = DEFAULTS.max_image_data_chars
DATA_HEADS = {f"data:image/{kind};base64" for kind in ("png", "jpeg", "gif", "webp")}
BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# C0 controls other than tab, newline and carriage return, DEL and C1 controls: never meaningful in a prompt.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
TOOL_CHOICES = ("auto", "none", "required")
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def clean_text(text: str) -> str:
    return CONTROL.sub("", text)


def check_image_url(url: str, field: str, policy: URLPolicy | None = None, limits: InputLimits = DEFAULTS) -> None:
    """data: URLs of an image type, or http(s) URLs the policy lets a provider fetch."""
    if url.startswith("data:"):
        head, _, payload = url.partition(",")
        if head not in DATA_HEADS or not BASE64.fullmatch(payload):
            raise ConfigurationError(f"{field}: a data URL must be data:image/(png|jpeg|gif|webp);base64,...")
        if len(url) > limits.max_image_data_chars:
            raise ConfigurationError(f"{field}: image data larger than {limits.max_image_data_chars:,} characters")
        return
    (policy or URLPolicy(limits.url_allowlist)).check(url, field)


def check_size(job: Job, limits: InputLimits) -> None:
    """The record as it will be stored, after every field passed its own limit."""
    size = len(job.model_dump_json().encode())
    if size > limits.max_job_bytes:
        raise ConfigurationError(f"job: {size:,} bytes serialised, at most {limits.max_job_bytes:,}")


def _check_messages(messages: list[Message], system_prompt: str | None, limits: InputLimits) -> None:
    if len(messages) > limits.max_messages:
        raise ConfigurationError(f"messages: {len(messages)} messages, at most {limits.max_messages}")
    total = len(system_prompt or "")
    for i, message in enumerate(messages):
        total += len(message.text())
        for j, call in enumerate(message.tool_calls):
            if len(call.arguments) > limits.max_tool_arguments_chars:
                raise ConfigurationError(f"messages.{i}.tool_calls.{j}.arguments: longer than "
                                         f"{limits.max_tool_arguments_chars:,} characters")
            total += len(call.arguments)
    if total > limits.max_total_chars:
        raise ConfigurationError(f"messages: {total:,} characters in all, at most {limits.max_total_chars:,}")


def _check_tools(tools: list[Tool], limits: InputLimits) -> None:
    if len(tools) > limits.max_tools:
        raise ConfigurationError(f"options.tools: {len(tools)} tools, at most {limits.max_tools}")
    for i, tool in enumerate(tools):
        if tool.parameters.get("type", "object") != "object":
            raise ConfigurationError(f"options.tools.{i}.parameters: a JSON Schema of type object is required")
        if len(json.dumps(tool.parameters)) > limits.max_tool_schema_chars:
            raise ConfigurationError(f"options.tools.{i}.parameters: schema larger than "
                                     f"{limits.max_tool_schema_chars:,} characters")
        if len(tool.description) > limits.max_tool_description_chars:
            raise ConfigurationError(f"options.tools.{i}.description: longer than "
                                     f"{limits.max_tool_description_chars:,} characters")


def check_fields(job: Job, limits: InputLimits) -> None:
    """Every field that can grow, against its limit; the first one over names itself."""
    options = job.options
    _check_messages(job.messages, options.system_prompt, limits)
    _check_tools(options.tools or [], limits)
    if options.tool_choice is not None and options.tool_choice not in TOOL_CHOICES \
            and not TOOL_NAME.fullmatch(options.tool_choice):
        raise ConfigurationError("options.tool_choice: auto, none, required or a tool name of 1-64 letters, digits, _ or -")
    for i, stop in enumerate(options.stop or []):
        if len(stop) > limits.max_stop_chars:
            raise ConfigurationError(f"options.stop.{i}: longer than {limits.max_stop_chars:,} characters")
    if len(job.metadata) > limits.max_metadata_entries:
        raise ConfigurationError(f"metadata: {len(job.metadata)} entries, at most {limits.max_metadata_entries}")
    chars = sum(len(k) + len(v) for k, v in job.metadata.items())
    if chars > limits.max_metadata_chars:
        raise ConfigurationError(f"metadata: {chars:,} characters, at most {limits.max_metadata_chars:,}")
    # max_tokens against the output limit the catalogue knows; any other model is checked at submit
    # (producers/client.py) and before the call (common/preflight.py), from the model's facts.
    info = get_spec(job.provider).find_model(job.model)
    if info and options.max_tokens is not None and options.max_tokens > info.max_output_tokens:
        raise ConfigurationError(f"options.max_tokens: {options.max_tokens} exceeds {info.id}'s limit of "
                                 f"{info.max_output_tokens}")


def sanitize_job(job: Job, limits: InputLimits = DEFAULTS, policy: URLPolicy | None = None) -> Job:
    """Refuse what exceeds the limits or names an internal URL; strip control characters from text.
    Returns a cleaned copy."""
    check_fields(job, limits)
    policy = policy or URLPolicy(limits.url_allowlist)
    cleaned = []
    for i, message in enumerate(job.messages):
        for j, image in enumerate(message.images()):
            check_image_url(image.url, f"messages.{i}.content.{j}.url", policy, limits)
        if isinstance(message.content, str):
            cleaned.append(message.model_copy(update={"content": clean_text(message.content)}))
        else:
            parts = [p.model_copy(update={"text": clean_text(p.text)}) if p.type == "text" else p for p in message.content]
            cleaned.append(message.model_copy(update={"content": parts}))
    options = job.options
    if options.system_prompt:
        options = options.model_copy(update={"system_prompt": clean_text(options.system_prompt)})
    cleaned_job = job.model_copy(update={"messages": cleaned, "options": options})
    check_size(cleaned_job, limits)
    return cleaned_job
