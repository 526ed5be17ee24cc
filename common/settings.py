"""All settings, read from the environment once and validated together.

Global variables use the seed's names (`LOG_LEVEL`, `ENCRYPTION_MASTER_KEY`, `RATE_LIMIT_*`) plus
`REDIS_URL` and `MULTILLM_*`; each provider reads `<PREFIX>_API_KEY` (GitHub: `GITHUB_TOKEN`),
`<PREFIX>_BASE_URL`, `<PREFIX>_CONCURRENCY`, `<PREFIX>_TASK_RATE_LIMIT` and its own
`<PREFIX>_RATE_LIMIT_*`, where PREFIX is OPENAI, ANTHROPIC, GOOGLE_AI, OPENROUTER, HUGGING_FACE,
GROK or GITHUB. Every malformed value is reported at once, by variable name. This is the only
module that reads `os.environ`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from multillm.common.errors import ConfigurationError
from multillm.common.providers.base import Timeouts
from multillm.common.providers.catalog import SPECS

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class RateLimitConfig(BaseModel):
    """The seed's RateLimitConfig: at most `max_requests` per `window_ms`, else `message`."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    max_requests: int = Field(default=60, gt=0)
    window_ms: int = Field(default=60_000, gt=0)
    message: str = "Too many requests, please try again later."


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    api_key: SecretStr | None = None
    base_url: str | None = None
    concurrency: int = Field(default=64, gt=0, le=10_000)
    # Celery's own per-worker task rate limit ("10/s", "600/m"); a local guard only.
    task_rate_limit: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?/[smh]$")
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    tenant_rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)  # per tenant, at submit
    # The account's quota, shared by every worker through Redis (multillm.common.quota).
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    itpm: int | None = Field(default=None, gt=0)  # input tokens per minute (Anthropic counts them apart)
    otpm: int | None = Field(default=None, gt=0)  # output tokens per minute
    max_concurrent: int | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, gt=0)  # RPM spread as `burst` requests per 60 s x burst / rpm

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url

    @property
    def queue(self) -> str:
        return f"multillm.{self.id}"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redis_url: str | None = None
    log_level: LogLevel = "info"
    encryption_master_key: SecretStr | None = None
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    tenant_rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)  # per tenant, at submit
    job_deadline_s: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=50)
    lease_ttl_s: float = Field(default=10.0, ge=1.0)
    result_ttl_s: int = Field(default=86_400, gt=0)
    replay_max: int = Field(default=50_000, gt=0)
    replay_ttl_s: int = Field(default=3_600, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    first_token_timeout_s: float = Field(default=60.0, gt=0)
    idle_timeout_s: float = Field(default=30.0, gt=0)
    worker_pool: Literal["threads", "prefork", "gevent", "solo"] = "threads"
    hide_prompts: bool = False
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)  # each worker serves /metrics here
    task_events: bool = True  # Flower needs them; off saves a few Redis writes per job
    quota_inline_wait_s: float = Field(default=5.0, ge=0)
    health_interval_s: float = Field(default=15.0, gt=0)
    health_window_s: float = Field(default=300.0, gt=0)  # traffic statistics older than this do not count
    circuit_failures: int = Field(default=5, ge=1)
    circuit_cooldown_s: float = Field(default=30.0, gt=0)
    tiers: dict[str, dict[str, str]] | None = None
    providers: dict[str, ProviderSettings]

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return url

    @field_validator("encryption_master_key")
    @classmethod
    def _master_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None:
            return None
        text = key.get_secret_value()
        if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError("must be 64 hexadecimal characters (32 bytes); make one with `multillm keygen`")
        return key

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def tier_map(self) -> dict[str, dict[str, str]]:
        from multillm.common.routing import TIERS, check_tiers

        return check_tiers({**TIERS, **(self.tiers or {})})

    def provider(self, provider_id: str) -> ProviderSettings:
        return self.providers[provider_id]

    def timeouts(self, total: float | None = None) -> Timeouts:
        return Timeouts(
            connect=self.connect_timeout_s,
            first_token=self.first_token_timeout_s,
            idle=self.idle_timeout_s,
            total=total if total is not None else self.job_deadline_s,
        )


GLOBAL_VARS = {
    "REDIS_URL": "redis_url",
    "LOG_LEVEL": "log_level",
    "ENCRYPTION_MASTER_KEY": "encryption_master_key",
    "MULTILLM_JOB_DEADLINE_S": "job_deadline_s",
    "MULTILLM_MAX_ATTEMPTS": "max_attempts",
    "MULTILLM_LEASE_TTL_S": "lease_ttl_s",
    "MULTILLM_RESULT_TTL_S": "result_ttl_s",
    "MULTILLM_REPLAY_MAX": "replay_max",
    "MULTILLM_REPLAY_TTL_S": "replay_ttl_s",
    "MULTILLM_CONNECT_TIMEOUT_S": "connect_timeout_s",
    "MULTILLM_FIRST_TOKEN_TIMEOUT_S": "first_token_timeout_s",
    "MULTILLM_IDLE_TIMEOUT_S": "idle_timeout_s",
    "MULTILLM_WORKER_POOL": "worker_pool",
    "MULTILLM_HIDE_PROMPTS": "hide_prompts",
    "MULTILLM_TASK_EVENTS": "task_events",
    "MULTILLM_METRICS_PORT": "metrics_port",
    "MULTILLM_QUOTA_INLINE_WAIT_S": "quota_inline_wait_s",
    "MULTILLM_HEALTH_INTERVAL_S": "health_interval_s",
    "MULTILLM_HEALTH_WINDOW_S": "health_window_s",
    "MULTILLM_CIRCUIT_FAILURES": "circuit_failures",
    "MULTILLM_CIRCUIT_COOLDOWN_S": "circuit_cooldown_s",
    "MULTILLM_TIERS": "tiers",
}
RATE_LIMIT_VARS = {
    "RATE_LIMIT_ENABLED": "enabled",
    "RATE_LIMIT_MAX_REQUESTS": "max_requests",
    "RATE_LIMIT_WINDOW_MS": "window_ms",
    "RATE_LIMIT_MESSAGE": "message",
}


def env_names(provider_id: str) -> dict[str, str]:
    """Environment variable -> field, for one provider."""
    spec = SPECS[provider_id]
    p = spec.env_prefix
    names = {spec.api_key_env: "api_key", spec.base_url_env: "base_url",
             f"{p}_CONCURRENCY": "concurrency", f"{p}_TASK_RATE_LIMIT": "task_rate_limit",
             f"{p}_RPM": "rpm", f"{p}_TPM": "tpm", f"{p}_ITPM": "itpm", f"{p}_OTPM": "otpm",
             f"{p}_MAX_CONCURRENT": "max_concurrent", f"{p}_BURST": "burst"}
    names.update(rate_limit_names(f"{p}_"))
    return names


def rate_limit_names(prefix: str = "") -> dict[str, str]:
    """`RATE_LIMIT_*` (a provider key's window) and `TENANT_RATE_LIMIT_*` (each tenant's, at submit)."""
    names = {f"{prefix}{var}": f"rate_limit.{field}" for var, field in RATE_LIMIT_VARS.items()}
    names.update({f"{prefix}TENANT_{var}": f"tenant_rate_limit.{field}" for var, field in RATE_LIMIT_VARS.items()})
    return names


def _pick(env: Mapping[str, str], names: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for var, path in names.items():
        value = env.get(var)
        if value is None or value == "":
            continue
        head, _, tail = path.partition(".")
        if tail:
            data.setdefault(head, {})[tail] = value
        else:
            data[head] = value.lower() if path == "log_level" else value
    return data


def _var_for(loc: tuple[Any, ...], provider_id: str | None) -> str:
    """The environment variable a pydantic error location came from."""
    path = ".".join(str(p) for p in loc)
    if provider_id:
        path = path.removeprefix(f"providers.{provider_id}.")
        names = env_names(provider_id)
    else:
        names = {**GLOBAL_VARS, **rate_limit_names()}
    return next((var for var, field in names.items() if field == path), path)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; one ConfigurationError lists every problem."""
    env = os.environ if env is None else env
    data = _pick(env, GLOBAL_VARS)
    data.update(_pick(env, rate_limit_names()))
    problems: list[str] = []
    providers: dict[str, ProviderSettings] = {}
    for pid in SPECS:
        try:
            providers[pid] = ProviderSettings(id=pid, **_pick(env, env_names(pid)))
        except ValidationError as exc:
            problems += [f"{_var_for(e['loc'], pid)}: {e['msg']}" for e in exc.errors()]
    try:
        settings = Settings(**data, providers=providers)
    except ValidationError as exc:
        problems += [f"{_var_for(e['loc'], None)}: {e['msg']}" for e in exc.errors() if e["loc"][0] != "providers"]
    if problems:
        raise ConfigurationError("invalid settings: " + "; ".join(problems))
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated on first use."""
    return load_settings()
