"""The simulator's own facts about each provider: its paths, its protocol and the models it lists.

The simulator is an oracle: it imports nothing from multillm's provider code or catalogue, so a
wrong fact there cannot pass both. It lists more models than multillm's catalogue names (gpt-5,
deepseek/deepseek-chat, gemma-3-27b-it, ...) and refuses any id it does not list, in each
provider's own shape. Limits follow the providers' model pages; prices are USD per million tokens.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimModel:
    id: str
    label: str
    context_length: int
    max_output_tokens: int
    input_price: float
    output_price: float
    vision: bool = False
    tools: bool = True
    reasoning: bool = False  # OpenAI o-series: `max_completion_tokens` only


@dataclass(frozen=True)
class SimProvider:
    id: str
    name: str
    protocol: str  # openai, anthropic or gemini
    models: tuple[SimModel, ...]
    chat_path: str = "/chat/completions"
    models_path: str = "/models"

    @property
    def default_model(self) -> str:
        return self.models[0].id

    def find_model(self, model_id: str) -> SimModel | None:
        return next((m for m in self.models if m.id == model_id), None)

    def model(self, model_id: str) -> SimModel:
        found = self.find_model(model_id)
        if found is None:
            raise KeyError(model_id)
        return found


M = SimModel

PROVIDERS: dict[str, SimProvider] = {p.id: p for p in (
    SimProvider("openai", "OpenAI", "openai", (
        M("gpt-4o-mini", "GPT-4o Mini", 128_000, 16_384, 0.15, 0.60, vision=True),
        M("gpt-4o", "GPT-4o", 128_000, 16_384, 2.50, 10.00, vision=True),
        M("gpt-4.1", "GPT-4.1", 1_047_576, 32_768, 2.00, 8.00, vision=True),
        M("gpt-4.1-mini", "GPT-4.1 Mini", 1_047_576, 32_768, 0.40, 1.60, vision=True),
        M("gpt-4.1-nano", "GPT-4.1 Nano", 1_047_576, 32_768, 0.10, 0.40, vision=True),
        M("gpt-4-turbo", "GPT-4 Turbo", 128_000, 4_096, 10.00, 30.00, vision=True),
        M("gpt-4", "GPT-4", 8_192, 8_192, 30.00, 60.00),
        M("gpt-3.5-turbo", "GPT-3.5 Turbo", 16_385, 4_096, 0.50, 1.50),
        M("gpt-5", "GPT-5", 400_000, 128_000, 1.25, 10.00, vision=True, reasoning=True),
        M("gpt-5-mini", "GPT-5 mini", 400_000, 128_000, 0.25, 2.00, vision=True, reasoning=True),
        M("o3-mini", "o3-mini", 200_000, 100_000, 1.10, 4.40, reasoning=True),
        M("o4-mini", "o4-mini", 200_000, 100_000, 1.10, 4.40, reasoning=True),
    )),
    SimProvider("anthropic", "Anthropic", "anthropic", (
        M("claude-3-5-haiku-latest", "Claude 3.5 Haiku", 200_000, 8_192, 0.80, 4.00),
        M("claude-sonnet-4-5", "Claude Sonnet 4.5", 200_000, 64_000, 3.00, 15.00, vision=True),
        M("claude-haiku-4-5", "Claude Haiku 4.5", 200_000, 64_000, 1.00, 5.00, vision=True),
        M("claude-opus-4-1", "Claude Opus 4.1", 200_000, 32_000, 15.00, 75.00, vision=True),
        M("claude-3-opus-20240229", "Claude 3 Opus", 200_000, 4_096, 15.00, 75.00, vision=True),
        M("claude-3-sonnet-20240229", "Claude 3 Sonnet", 200_000, 4_096, 3.00, 15.00, vision=True),
        M("claude-3-haiku-20240307", "Claude 3 Haiku", 200_000, 4_096, 0.25, 1.25, vision=True),
        M("claude-2.1", "Claude 2.1", 200_000, 4_096, 8.00, 24.00, tools=False),
    ), chat_path="/v1/messages", models_path="/v1/models"),
    SimProvider("google", "Google AI", "gemini", (
        M("gemini-2.0-flash", "Gemini 2.0 Flash", 1_048_576, 8_192, 0.10, 0.40, vision=True),
        M("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536, 0.30, 2.50, vision=True),
        M("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, 65_536, 1.25, 10.00, vision=True),
        M("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 1_048_576, 65_536, 0.10, 0.40, vision=True),
        M("gemma-3-27b-it", "Gemma 3 27B", 131_072, 8_192, 0.0, 0.0),
        M("gemini-1.5-pro", "Gemini 1.5 Pro", 2_097_152, 8_192, 1.25, 5.00, vision=True),
        M("gemini-1.5-flash", "Gemini 1.5 Flash", 1_048_576, 8_192, 0.075, 0.30, vision=True),
        M("gemini-pro", "Gemini Pro", 32_760, 8_192, 0.50, 1.50),
        M("gemini-pro-vision", "Gemini Pro Vision", 16_384, 2_048, 0.50, 1.50, vision=True, tools=False),
    ), chat_path="/models/{model}:generateContent"),
    SimProvider("openrouter", "OpenRouter", "openai", (
        M("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128_000, 16_384, 0.15, 0.60, vision=True),
        M("anthropic/claude-3.5-sonnet", "Anthropic: Claude 3.5 Sonnet", 200_000, 8_192, 3.00, 15.00),
        M("meta-llama/llama-3.1-70b-instruct", "Meta: Llama 3.1 70B Instruct", 131_072, 8_192, 0.40, 0.40),
        M("google/gemini-flash-1.5", "Google: Gemini Flash 1.5", 1_000_000, 8_192, 0.075, 0.30),
        M("mistralai/mistral-large", "Mistral Large", 128_000, 8_192, 2.00, 6.00),
        M("deepseek/deepseek-chat", "DeepSeek: DeepSeek V3", 163_840, 163_840, 0.30, 0.85),
        M("qwen/qwen3-32b", "Qwen: Qwen3 32B", 40_960, 40_960, 0.05, 0.20),
        M("openai/gpt-5", "OpenAI: GPT-5", 400_000, 128_000, 1.25, 10.00, vision=True),
    )),
    SimProvider("llama", "Hugging Face", "openai", (
        M("meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1 8B Instruct", 131_072, 8_192, 0.10, 0.10),
        M("meta-llama/Llama-3.3-70B-Instruct", "Llama 3.3 70B Instruct", 131_072, 8_192, 0.60, 0.60),
        M("meta-llama/Meta-Llama-3-8B-Instruct", "Llama 3 8B Instruct", 8_192, 4_096, 0.10, 0.10),
        M("meta-llama/Llama-2-70b-chat-hf", "Llama 2 70B Chat", 4_096, 2_048, 0.90, 0.90, tools=False),
        M("meta-llama/Llama-3.2-3B-Instruct", "Llama 3.2 3B Instruct", 131_072, 8_192, 0.06, 0.06),
        M("Qwen/Qwen2.5-7B-Instruct", "Qwen 2.5 7B Instruct", 32_768, 8_192, 0.30, 0.30),
    )),
    SimProvider("grok", "xAI", "openai", (
        M("grok-3-mini", "Grok 3 Mini", 131_072, 16_384, 0.30, 0.50),
        M("grok-3", "Grok 3", 131_072, 16_384, 3.00, 15.00),
        M("grok-4", "Grok 4", 256_000, 32_768, 3.00, 15.00, vision=True),
        M("grok-4-fast", "Grok 4 Fast", 2_000_000, 30_000, 0.20, 0.50, vision=True),
        M("grok-code-fast-1", "Grok Code Fast 1", 256_000, 10_000, 0.20, 1.50),
        M("grok-2-1212", "Grok 2", 131_072, 8_192, 2.00, 10.00),
        M("grok-beta", "Grok Beta", 131_072, 8_192, 5.00, 15.00),
    )),
    SimProvider("github", "GitHub Models", "openai", (
        M("openai/gpt-4.1-mini", "OpenAI GPT-4.1-mini", 1_047_576, 32_768, 0.40, 1.60, vision=True),
        M("openai/gpt-4.1", "OpenAI GPT-4.1", 1_047_576, 32_768, 2.00, 8.00, vision=True),
        M("openai/gpt-4o", "OpenAI GPT-4o", 128_000, 16_384, 2.50, 10.00, vision=True),
        M("meta/Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct", 131_072, 4_096, 0.71, 0.71),
        M("openai/gpt-5", "OpenAI gpt-5", 200_000, 100_000, 1.25, 10.00, vision=True),
        M("deepseek/DeepSeek-V3-0324", "DeepSeek-V3-0324", 128_000, 4_096, 1.14, 4.56),
    ), chat_path="/inference/chat/completions", models_path="/catalog/models"),
)}
