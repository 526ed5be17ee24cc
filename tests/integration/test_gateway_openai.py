"""The gateway as OpenAI's official SDKs see it: Python `openai` and the npm `openai` package,
pointed at `multillm serve` with a tenant key, on real workers and the simulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import openai
import pytest

from multillm.common.providers import SPECS
from multillm.producers.local.system import EmbeddedSystem
from tests.integration.gateway_tenants import new_tenant

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
VERDICT = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
           "required": ["answer", "score"], "additionalProperties": False}
NODE_DIR = Path(__file__).resolve().parents[1] / ".node-openai"  # a cache, ignored by git


def default_model(provider: str) -> str:
    return f"{provider}/{SPECS[provider].default_model}"


@pytest.fixture(scope="module")
def sdk(system: EmbeddedSystem, gateway: str) -> openai.OpenAI:
    _, key = new_tenant(system.redis_url)
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0, timeout=60)


@pytest.mark.parametrize("provider", list(SPECS))
def test_the_openai_sdk_completes_and_streams_on_every_provider(sdk: openai.OpenAI, provider: str):
    model = default_model(provider)
    completion = sdk.chat.completions.create(model=model, max_tokens=12,
                                             messages=[{"role": "user", "content": "Name three rivers"}])
    assert completion.model == model and completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    stream = sdk.chat.completions.create(model=model, max_tokens=12, stream=True, stream_options={"include_usage": True},
                                         messages=[{"role": "user", "content": "Name three rivers"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content  # the simulator answers a prompt the same way
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == completion.choices[0].finish_reason
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("provider", list(SPECS))
def test_a_tool_call_comes_back_in_openai_shape_on_every_provider(sdk: openai.OpenAI, provider: str):
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    completion = sdk.chat.completions.create(model=default_model(provider), messages=ask, tools=[WEATHER])
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    streamed = [c for c in sdk.chat.completions.create(model=default_model(provider), messages=ask, tools=[WEATHER],
                                                       stream=True) if c.choices]
    calls = [t for c in streamed for t in (c.choices[0].delta.tool_calls or [])]
    assert [(t.index, t.function.name) for t in calls] == [(0, "get_weather")]
    answered = sdk.chat.completions.create(model=default_model(provider), messages=[
        *ask, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}], tools=[WEATHER])
    assert answered.choices[0].message.content and not answered.choices[0].message.tool_calls


@pytest.mark.parametrize("provider", list(SPECS))
def test_json_mode_returns_a_document_of_the_schema_on_every_provider(sdk: openai.OpenAI, provider: str):
    completion = sdk.chat.completions.create(
        model=default_model(provider), messages=[{"role": "user", "content": "Judge: is water wet?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT, "strict": True}})
    document = json.loads(completion.choices[0].message.content or "")
    assert set(document) == {"answer", "score"} and isinstance(document["score"], int)


def test_json_object_mode_returns_json(sdk: openai.OpenAI):
    completion = sdk.chat.completions.create(model="openai/gpt-4o-mini", response_format={"type": "json_object"},
                                             messages=[{"role": "user", "content": "Reply in JSON: three rivers"}])
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_tiers_and_auto_route_to_a_provider(sdk: openai.OpenAI):
    for model in ("fast", "auto"):
        completion = sdk.chat.completions.create(model=model, max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
        provider = completion.model.split("/", 1)[0]
        assert provider in SPECS and completion.choices[0].message.content


def test_the_model_list_names_every_catalogue_model_and_the_tiers(sdk: openai.OpenAI):
    ids = {m.id for m in sdk.models.list()}
    assert {f"{p}/{m.id}" for p, spec in SPECS.items() for m in spec.models} <= ids
    assert {"fast", "smart", "auto"} <= ids
    assert sdk.models.retrieve("anthropic/claude-sonnet-4-5").owned_by == "anthropic"


def test_sdk_errors_map_to_the_sdk_exception_classes(sdk: openai.OpenAI, gateway: str):
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="openai/gpt-9", messages=[{"role": "user", "content": "Hi"}])
    assert missing.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="openai/gpt-4o-mini", temperature=5, messages=[{"role": "user", "content": "Hi"}])
    assert bad.value.body["param"] == "temperature"  # type: ignore[index]
    with pytest.raises(openai.PermissionDeniedError):  # the provider refused the operator's key
        sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x [[fault:401]]"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gateway}/v1", api_key="mlm_not-a-real-key-at-all", max_retries=0).models.list()


def _node_openai() -> Path:
    """The npm `openai` package, installed once into a cache folder under tests/ (never committed)."""
    if not (NODE_DIR / "node_modules" / "openai").exists():
        NODE_DIR.mkdir(exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR), "openai@^4"],
                       check=True, capture_output=True, timeout=300)
    return NODE_DIR


NODE_SCRIPT = """
const OpenAI = require('openai');
const client = new OpenAI({ baseURL: process.env.GATEWAY + '/v1', apiKey: process.env.TENANT_KEY, maxRetries: 0 });
(async () => {
  const out = { models: (await client.models.list()).data.length, providers: {} };
  for (const model of JSON.parse(process.env.MODELS)) {
    const ask = { model, max_tokens: 12, messages: [{ role: 'user', content: 'Name three rivers' }] };
    const whole = await client.chat.completions.create(ask);
    let streamed = '';
    for await (const chunk of await client.chat.completions.create({ ...ask, stream: true })) {
      streamed += chunk.choices[0]?.delta?.content || '';
    }
    const tool = await client.chat.completions.create({ model, tools: [JSON.parse(process.env.TOOL)],
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }] });
    const json = await client.chat.completions.create({ model, response_format: { type: 'json_schema',
      json_schema: { name: 'verdict', schema: JSON.parse(process.env.SCHEMA), strict: true } },
      messages: [{ role: 'user', content: 'Judge: is water wet?' }] });
    out.providers[model] = { whole: whole.choices[0].message.content, streamed,
      tool: tool.choices[0].message.tool_calls[0].function.name, json: JSON.parse(json.choices[0].message.content) };
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs Node and npm")
def test_the_openai_npm_package_streams_completes_calls_tools_and_json_on_every_provider(system, gateway, tmp_path):
    folder = _node_openai()
    _, key = new_tenant(system.redis_url)
    script = tmp_path / "gateway.cjs"
    script.write_text(NODE_SCRIPT)
    models = [default_model(p) for p in SPECS]
    env = dict(os.environ, GATEWAY=gateway, TENANT_KEY=key, MODELS=json.dumps(models), TOOL=json.dumps(WEATHER),
               SCHEMA=json.dumps(VERDICT), NODE_PATH=str(folder / "node_modules"))
    run = subprocess.run(["node", str(script)], env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["models"] > len(SPECS)
    for model in models:
        got = out["providers"][model]
        assert got["whole"] and got["streamed"] == got["whole"]
        assert got["tool"] == "get_weather" and set(got["json"]) == {"answer", "score"}


def test_an_error_before_any_text_is_an_http_status_even_when_streaming(sdk: openai.OpenAI):
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="anthropic/claude-3-5-haiku-latest", stream=True,
                                    messages=[{"role": "user", "content": "x [[fault:401]]"}])


def test_a_provider_failure_after_text_went_out_ends_the_stream_with_an_error_event(sdk: openai.OpenAI):
    stream = sdk.chat.completions.create(model="openai/gpt-4o-mini", stream=True, max_tokens=40,
                                         messages=[{"role": "user", "content": "Rivers [[fault:drop]]"}])
    received = []
    with pytest.raises(openai.APIError, match="restarted"):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received)  # text came first, then the error, never a second copy of the text


PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "google/gemini-2.5-flash"])
def test_an_image_part_reaches_a_vision_model(sdk: openai.OpenAI, model: str):
    completion = sdk.chat.completions.create(model=model, max_tokens=10, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]}])
    assert completion.choices[0].message.content


def test_an_image_for_a_model_without_vision_is_refused_naming_the_field(sdk: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="openai/gpt-3.5-turbo", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": PIXEL}}]}])
    assert refused.value.body["param"] == "messages"  # type: ignore[index]
