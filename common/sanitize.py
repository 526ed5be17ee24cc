"""Input limits and sanitisation, applied by producers at submit and again by workers for messages
that reached a queue some other way. Each refusal names the field and the problem."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import Job
from multillm.common.providers.catalog import SPECS

MAX_MESSAGES = 500
MAX_TOTAL_CHARS = 2_000_000
MAX_TOOLS = 128
MAX_TOOL_SCHEMA_CHARS = 64_000
MAX_IMAGE_DATA_CHARS = 20_000_000
# C0 controls other than tab, newline and carriage return, DEL and C1 controls: never meaningful in a prompt.
DATA_HEADS = {f"data:image/{kind};base64" for kind in ("png", "jpeg", "gif", "webp")}
BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    return CONTROL.sub("", text)


def check_image_url(url: str, field: str, resolve: bool = True) -> None:
    """data: URLs, or http(s) URLs whose host is a public address (no loopback or private ranges)."""
    if url.startswith("data:"):
        head, _, payload = url.partition(",")
        if head not in DATA_HEADS or not BASE64.fullmatch(payload):
            raise ConfigurationError(f"{field}: a data URL must be data:image/(png|jpeg|gif|webp);base64,...")
        if len(url) > MAX_IMAGE_DATA_CHARS:
            raise ConfigurationError(f"{field}: image data larger than {MAX_IMAGE_DATA_CHARS:,} characters")
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{field}: only data: and http(s) image URLs are accepted")
    if parts.username or parts.password:
        raise ConfigurationError(f"{field}: URLs with credentials are refused")
    for address in _addresses(parts.hostname, resolve):
        if not address.is_global:
            raise ConfigurationError(f"{field}: {parts.hostname} is not a public address")


def _addresses(host: str, resolve: bool) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return [ipaddress.ip_address("127.0.0.1")]
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []  # unresolvable here: the provider will fail to fetch it, nothing internal is exposed
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def sanitize_job(job: Job, resolve_hosts: bool = True) -> Job:
    """Refuse what exceeds the limits; strip control characters from text. Returns a cleaned copy."""
    if len(job.messages) > MAX_MESSAGES:
        raise ConfigurationError(f"messages: {len(job.messages)} messages, at most {MAX_MESSAGES}")
    total = sum(len(m.text()) for m in job.messages) + len(job.options.system_prompt or "")
    if total > MAX_TOTAL_CHARS:
        raise ConfigurationError(f"messages: {total:,} characters in all, at most {MAX_TOTAL_CHARS:,}")
    # max_tokens against the output limit the catalogue knows; for any other model, at submit
    # (producers/client.py) and before the call (common/preflight.py), from the model's facts.
    info = SPECS[job.provider].find_model(job.model)
    if info and job.options.max_tokens is not None and job.options.max_tokens > info.max_output_tokens:
        raise ConfigurationError(f"options.max_tokens: {job.options.max_tokens} exceeds {info.id}'s limit of "
                                 f"{info.max_output_tokens}")
    tools = job.options.tools or []
    if len(tools) > MAX_TOOLS:
        raise ConfigurationError(f"options.tools: {len(tools)} tools, at most {MAX_TOOLS}")
    for i, tool in enumerate(tools):
        if tool.parameters.get("type", "object") != "object":
            raise ConfigurationError(f"options.tools.{i}.parameters: a JSON Schema of type object is required")
        if len(str(tool.parameters)) > MAX_TOOL_SCHEMA_CHARS:
            raise ConfigurationError(f"options.tools.{i}.parameters: schema larger than {MAX_TOOL_SCHEMA_CHARS:,} characters")
    cleaned = []
    for i, message in enumerate(job.messages):
        for j, image in enumerate(message.images()):
            check_image_url(image.url, f"messages.{i}.content.{j}.url", resolve_hosts)
        if isinstance(message.content, str):
            cleaned.append(message.model_copy(update={"content": clean_text(message.content)}))
        else:
            parts = [p.model_copy(update={"text": clean_text(p.text)}) if p.type == "text" else p for p in message.content]
            cleaned.append(message.model_copy(update={"content": parts}))
    options = job.options
    if options.system_prompt:
        options = options.model_copy(update={"system_prompt": clean_text(options.system_prompt)})
    return job.model_copy(update={"messages": cleaned, "options": options})
