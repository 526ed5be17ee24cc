"""The seven providers as declarations: URLs, headers, and the models multillm knows facts about.

The models here are defaults and known facts (context length, output limit, vision, tools), not a
gate: any model id is accepted, checked against the provider's live model list when it can be
fetched (`common/model_list.py`). Prices come from genai-prices and local overrides
(`common/model_facts.py`), never from here. The first model of each provider is its default.
"""

from __future__ import annotations

from multillm.common.providers.base import ModelInfo, ProviderSpec

M = ModelInfo

OPENAI = ProviderSpec(
    id="openai",
    name="OpenAI",
    label="OpenAI",
    description="GPT models: streaming, function calling, JSON mode.",
    protocol="openai",
    env_prefix="OPENAI",
    default_base_url="https://api.openai.com/v1",
    key_pattern=r"^sk-[A-Za-z0-9_\-]{16,}$",
    models=(
        M("gpt-4o-mini", "GPT-4o Mini", 128_000, 16_384, vision=True),
        M("gpt-4o", "GPT-4o", 128_000, 16_384, vision=True),
        M("gpt-4.1", "GPT-4.1", 1_047_576, 32_768, vision=True),
        M("gpt-4.1-mini", "GPT-4.1 Mini", 1_047_576, 32_768, vision=True),
        M("gpt-4-turbo", "GPT-4 Turbo", 128_000, 4_096, vision=True),
        M("gpt-4", "GPT-4", 8_192, 8_192),
        M("gpt-3.5-turbo", "GPT-3.5 Turbo", 16_385, 4_096),
        M("o3-mini", "o3-mini", 200_000, 100_000, reasoning=True),
    ),
)

ANTHROPIC = ProviderSpec(
    id="anthropic",
    name="Anthropic",
    label="Anthropic (Claude)",
    description="Claude models: streaming, first-class system prompts, tool use.",
    protocol="anthropic",
    env_prefix="ANTHROPIC",
    default_base_url="https://api.anthropic.com",
    chat_path="/v1/messages",
    models_path="/v1/models",
    headers=(("anthropic-version", "2023-06-01"),),
    key_pattern=r"^sk-ant-[A-Za-z0-9_\-]{16,}$",
    # Messages API has no frequency/presence penalty nor seed (anthropic-sdk message_create_params.py).
    unsupported=frozenset({"frequency_penalty", "presence_penalty", "seed"}),
    models=(
        M("claude-3-5-haiku-latest", "Claude 3.5 Haiku", 200_000, 8_192),
        M("claude-sonnet-4-5", "Claude Sonnet 4.5", 200_000, 64_000, vision=True),
        M("claude-3-opus-20240229", "Claude 3 Opus", 200_000, 4_096, vision=True),
        M("claude-3-sonnet-20240229", "Claude 3 Sonnet", 200_000, 4_096, vision=True),
        M("claude-3-haiku-20240307", "Claude 3 Haiku", 200_000, 4_096, vision=True),
        M("claude-2.1", "Claude 2.1", 200_000, 4_096, tools=False),
    ),
)

GOOGLE = ProviderSpec(
    id="google",
    name="Google AI",
    label="Google AI (Gemini)",
    description="Gemini models: streaming, multimodal input, function calling.",
    protocol="gemini",
    env_prefix="GOOGLE_AI",
    default_base_url="https://generativelanguage.googleapis.com/v1beta",
    chat_path="/models/{model}:generateContent",
    models_path="/models",
    key_pattern=r"^[A-Za-z0-9_\-]{20,}$",
    models=(
        M("gemini-2.0-flash", "Gemini 2.0 Flash", 1_048_576, 8_192, vision=True),
        M("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536, vision=True),
        M("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, 65_536, vision=True),
        M("gemini-1.5-pro", "Gemini 1.5 Pro", 2_097_152, 8_192, vision=True),
        M("gemini-1.5-flash", "Gemini 1.5 Flash", 1_048_576, 8_192, vision=True),
        M("gemini-pro", "Gemini Pro", 32_760, 8_192),
        M("gemini-pro-vision", "Gemini Pro Vision", 16_384, 2_048, vision=True, tools=False),
    ),
)

OPENROUTER = ProviderSpec(
    id="openrouter",
    name="OpenRouter",
    label="OpenRouter",
    description="Many providers' models through one OpenAI-compatible API.",
    protocol="openai",
    env_prefix="OPENROUTER",
    default_base_url="https://openrouter.ai/api/v1",
    # App attribution (openrouter.ai/docs/app-attribution); X-Title is still accepted.
    headers=(("HTTP-Referer", "https://github.com/multillm/multillm"), ("X-Title", "multillm")),
    key_pattern=r"^sk-or-[A-Za-z0-9_\-]{16,}$",
    models=(
        M("openai/gpt-4o-mini", "GPT-4o Mini (OpenRouter)", 128_000, 16_384, vision=True),
        M("anthropic/claude-3.5-sonnet", "Claude 3.5 Sonnet (OpenRouter)", 200_000, 8_192),
        M("meta-llama/llama-3.1-70b-instruct", "Llama 3.1 70B (OpenRouter)", 131_072, 8_192),
        M("google/gemini-flash-1.5", "Gemini Flash 1.5 (OpenRouter)", 1_000_000, 8_192),
        M("mistralai/mistral-large", "Mistral Large (OpenRouter)", 128_000, 8_192),
    ),
)

LLAMA = ProviderSpec(
    id="llama",
    name="Llama",
    label="Llama via Hugging Face",
    description="Open-weight Llama models on the Hugging Face router or any OpenAI-compatible server.",
    protocol="openai",
    env_prefix="HUGGING_FACE",
    default_base_url="https://router.huggingface.co/v1",
    key_pattern=r"^hf_[A-Za-z0-9]{16,}$",
    models=(
        M("meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1 8B Instruct", 131_072, 8_192),
        M("meta-llama/Llama-3.3-70B-Instruct", "Llama 3.3 70B Instruct", 131_072, 8_192),
        M("meta-llama/Meta-Llama-3-8B-Instruct", "Llama 3 8B Instruct", 8_192, 4_096),
        M("meta-llama/Llama-2-70b-chat-hf", "Llama 2 70B Chat", 4_096, 2_048, tools=False),
    ),
)

GROK = ProviderSpec(
    id="grok",
    name="Grok",
    label="Grok (xAI)",
    description="xAI's Grok models, OpenAI-compatible, large context.",
    protocol="openai",
    env_prefix="GROK",
    default_base_url="https://api.x.ai/v1",
    key_pattern=r"^xai-[A-Za-z0-9]{16,}$",
    models=(
        M("grok-3-mini", "Grok 3 Mini", 131_072, 16_384),
        M("grok-3", "Grok 3", 131_072, 16_384),
        M("grok-4", "Grok 4", 256_000, 32_768, vision=True),
        M("grok-2-1212", "Grok 2", 131_072, 8_192),
        M("grok-beta", "Grok Beta", 131_072, 8_192),
    ),
)

GITHUB = ProviderSpec(
    id="github",
    name="GitHub Models",
    label="GitHub Copilot / GitHub Models",
    description="Models served by GitHub's inference endpoint, with a GitHub token.",
    protocol="openai",
    env_prefix="GITHUB",
    key_env="GITHUB_TOKEN",
    default_base_url="https://models.github.ai",
    chat_path="/inference/chat/completions",
    models_path="/catalog/models",
    headers=(("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")),
    key_pattern=r"^(gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}$",
    models=(
        M("openai/gpt-4.1-mini", "GPT-4.1 Mini (GitHub)", 1_047_576, 32_768, vision=True),
        M("openai/gpt-4.1", "GPT-4.1 (GitHub)", 1_047_576, 32_768, vision=True),
        M("openai/gpt-4o", "GPT-4o (GitHub)", 128_000, 16_384, vision=True),
        M("meta/Llama-3.3-70B-Instruct", "Llama 3.3 70B (GitHub)", 131_072, 4_096),
    ),
)

SPECS: dict[str, ProviderSpec] = {
    s.id: s for s in (OPENAI, ANTHROPIC, GOOGLE, OPENROUTER, LLAMA, GROK, GITHUB)
}
