"""An OpenAI Batch API request body (`/v1/chat/completions`) as multillm's messages and chat options.

Every field is honoured or the line is refused naming it, never dropped: sampling options, `stop`,
`seed`, `max_tokens`/`max_completion_tokens`, `tools` and `tool_choice`, `response_format` (JSON mode
or a JSON Schema), image parts (`image_url`), assistant tool calls and tool results. `model` names
the model the line was written for; the run's targets choose where it goes. Shapes: openai-python
`types/chat/completion_create_params.py`, `chat_completion_content_part_param.py`.
"""

from __future__ import annotations

from typing import Any

from multillm.common.errors import ConfigurationError

SAMPLING = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "stop", "seed")
ACCEPTED = {*SAMPLING, "model", "messages", "max_tokens", "max_completion_tokens", "tools", "tool_choice",
            "response_format", "n", "stream"}
MESSAGE_FIELDS = {"role", "content", "name", "tool_calls", "tool_call_id", "refusal"}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def chat_from_body(body: dict[str, Any], where: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(messages, ChatOptions fields) of one body; `where` prefixes every error ("line 3: body")."""
    unknown = sorted(set(body) - ACCEPTED)
    if unknown:
        raise ConfigurationError(f"{where}.{unknown[0]}: not supported by multillm (remove it to run this line)")
    if body.get("n") not in (None, 1):
        raise ConfigurationError(f"{where}.n: only one choice per request is supported")
    if body.get("stream"):
        raise ConfigurationError(f"{where}.stream: a batch line is answered whole; remove it")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ConfigurationError(f"{where}.messages is required")
    options = {k: body[k] for k in SAMPLING if body.get(k) is not None}
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            options["max_tokens"] = body[name]
    if body.get("tools") is not None:
        options["tools"] = [_tool(t, f"{where}.tools.{i}") for i, t in enumerate(_list(body["tools"], f"{where}.tools"))]
    if body.get("tool_choice") is not None:
        options["tool_choice"] = _tool_choice(body["tool_choice"], f"{where}.tool_choice")
    if body.get("response_format") is not None:
        options.update(_response_format(body["response_format"], f"{where}.response_format"))
    return [_message(m, f"{where}.messages.{i}") for i, m in enumerate(messages)], options


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigurationError(f"{where}: must be a list")
    return value


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        raise ConfigurationError(f"{where}: only {{\"type\": \"function\", \"function\": {{...}}}} tools are supported")
    function = tool["function"]
    extra = sorted(set(function) - {"name", "description", "parameters", "strict"})
    if extra:
        raise ConfigurationError(f"{where}.function.{extra[0]}: not supported")
    out = {"name": function.get("name"), "description": function.get("description") or ""}
    if function.get("parameters") is not None:
        out["parameters"] = function["parameters"]
    return out


def _tool_choice(choice: Any, where: str) -> str:
    if choice in ("auto", "none", "required"):
        return str(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return name
    raise ConfigurationError(f"{where}: must be auto, none, required or {{\"type\": \"function\", \"function\": {{\"name\"}}}}")


def _response_format(fmt: Any, where: str) -> dict[str, Any]:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"json_mode": True}
    if kind == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
        if isinstance(schema, dict):
            return {"response_schema": schema}
        raise ConfigurationError(f"{where}.json_schema.schema: a JSON Schema object is required")
    raise ConfigurationError(f"{where}.type: must be text, json_object or json_schema")


def _message(message: Any, where: str) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ConfigurationError(f"{where}: must be an object")
    extra = sorted(k for k in set(message) - MESSAGE_FIELDS if message[k] is not None)
    if extra:
        raise ConfigurationError(f"{where}.{extra[0]}: not supported")
    if message.get("role") not in ROLES:
        raise ConfigurationError(f"{where}.role: must be one of {', '.join(ROLES)}")
    out: dict[str, Any] = {"role": ROLES[message["role"]], "content": _content(message.get("content"), where)}
    if message.get("name"):
        out["name"] = message["name"]
    if message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    if message.get("tool_calls"):
        out["tool_calls"] = [_tool_call(c, f"{where}.tool_calls.{i}")
                             for i, c in enumerate(_list(message["tool_calls"], f"{where}.tool_calls"))]
    return out


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for i, part in enumerate(_list(content, f"{where}.content")):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            image = {"type": "image", "url": part["image_url"].get("url")}
            if part["image_url"].get("detail"):
                image["detail"] = part["image_url"]["detail"]
            parts.append(image)
        else:
            raise ConfigurationError(f"{where}.content.{i}.type: {kind!r} parts are not supported (text, image_url)")
    return parts


def _tool_call(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or call.get("type", "function") != "function":
        raise ConfigurationError(f"{where}: must be {{\"id\", \"type\": \"function\", \"function\": {{name, arguments}}}}")
    return {"id": str(call.get("id") or ""), "name": str(function.get("name") or ""),
            "arguments": str(function.get("arguments") or "{}")}
