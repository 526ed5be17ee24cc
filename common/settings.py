"""All settings, read from the environment once and validated together (pydantic-settings).

Global variables use the seed's names (`LOG_LEVEL`, `ENCRYPTION_MASTER_KEY`, `RATE_LIMIT_*`) plus
`REDIS_URL`, `PROMETHEUS_MULTIPROC_DIR` and `MULTILLM_*`, each declared on its field as the field's
alias. Each provider reads `<PREFIX>_API_KEY` (GitHub: `GITHUB_TOKEN`), `<PREFIX>_BASE_URL`,
`<PREFIX>_CONCURRENCY`, `<PREFIX>_TASK_RATE_LIMIT`, its quota and its own `<PREFIX>_RATE_LIMIT_*` and
`<PREFIX>_TENANT_RATE_LIMIT_*`, where PREFIX is OPENAI, ANTHROPIC, GOOGLE_AI, OPENROUTER, HUGGING_FACE,
GROK or GITHUB. Every malformed value, and every unknown `MULTILLM_*` variable, is reported at once,
by variable name. This is the only module that reads `os.environ`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, Json, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from multillm.common.errors import ConfigurationError
from multillm.common.limits import LIMIT_VARS, InputLimits
from multillm.common.providers.base import Timeouts
from multillm.common.providers.catalog import SPECS
from multillm.common.redact import register

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
UNKNOWN_PREFIX = "MULTILLM_"  # a variable with this prefix that no setting reads is an error
# The mapping `load_settings(env)` validates instead of os.environ (a context variable: thread-safe).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("multillm_environ", default=None)


class RateLimitConfig(BaseModel):
    """The seed's RateLimitConfig: at most `max_requests` per `window_ms`, else `message`."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    max_requests: int = Field(default=60, gt=0)
    window_ms: int = Field(default=60_000, gt=0)
    message: str = "Too many requests, please try again later."


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
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

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url

    @property
    def queue(self) -> str:
        return f"multillm.{self.id}"


class Settings(BaseSettings):
    """Every setting. A flat field's variable is its alias; the grouped ones are in `group_variables`."""

    model_config = SettingsConfigDict(extra="forbid", allow_inf_nan=False)
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    log_level: LogLevel = Field(default="info", validation_alias="LOG_LEVEL")
    encryption_master_key: SecretStr | None = Field(default=None, validation_alias="ENCRYPTION_MASTER_KEY")
    # the master key before a rotation, also accepted while `multillm keys rotate` runs
    encryption_master_key_previous: SecretStr | None = Field(default=None, validation_alias="ENCRYPTION_MASTER_KEY_PREVIOUS")
    job_deadline_s: float = Field(default=300.0, gt=0, validation_alias="MULTILLM_JOB_DEADLINE_S")
    max_attempts: int = Field(default=4, ge=1, le=50, validation_alias="MULTILLM_MAX_ATTEMPTS")
    lease_ttl_s: float = Field(default=10.0, ge=1.0, validation_alias="MULTILLM_LEASE_TTL_S")
    result_ttl_s: int = Field(default=86_400, gt=0, validation_alias="MULTILLM_RESULT_TTL_S")
    replay_max: int = Field(default=50_000, gt=0, validation_alias="MULTILLM_REPLAY_MAX")
    replay_ttl_s: int = Field(default=3_600, gt=0, validation_alias="MULTILLM_REPLAY_TTL_S")
    connect_timeout_s: float = Field(default=10.0, gt=0, validation_alias="MULTILLM_CONNECT_TIMEOUT_S")
    first_token_timeout_s: float = Field(default=60.0, gt=0, validation_alias="MULTILLM_FIRST_TOKEN_TIMEOUT_S")
    idle_timeout_s: float = Field(default=30.0, gt=0, validation_alias="MULTILLM_IDLE_TIMEOUT_S")
    worker_pool: Literal["threads", "prefork", "gevent", "solo"] = Field(default="threads",
                                                                         validation_alias="MULTILLM_WORKER_POOL")
    # each worker serves /metrics on this port and address
    metrics_port: int | None = Field(default=None, gt=0, lt=65536, validation_alias="MULTILLM_METRICS_PORT")
    metrics_addr: str = Field(default="127.0.0.1", min_length=1, validation_alias="MULTILLM_METRICS_ADDR")
    # prometheus-client's multiprocess mode (prefork); prometheus-client reads the variable itself too
    prometheus_multiproc_dir: Path | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")
    task_events: bool = Field(default=True, validation_alias="MULTILLM_TASK_EVENTS")  # Flower needs them
    quota_inline_wait_s: float = Field(default=5.0, ge=0, validation_alias="MULTILLM_QUOTA_INLINE_WAIT_S")
    health_interval_s: float = Field(default=15.0, gt=0, validation_alias="MULTILLM_HEALTH_INTERVAL_S")
    # traffic statistics older than this do not count
    health_window_s: float = Field(default=300.0, gt=0, validation_alias="MULTILLM_HEALTH_WINDOW_S")
    circuit_failures: int = Field(default=5, ge=1, validation_alias="MULTILLM_CIRCUIT_FAILURES")
    circuit_cooldown_s: float = Field(default=30.0, gt=0, validation_alias="MULTILLM_CIRCUIT_COOLDOWN_S")
    tiers: Json[dict[str, dict[str, str]]] | None = Field(default=None, validation_alias="MULTILLM_TIERS")
    # where `multillm up` records the running system for other commands
    home: Path = Field(default_factory=lambda: Path.home() / ".multillm", validation_alias="MULTILLM_HOME")
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    tenant_rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)  # per tenant, at submit
    conversation_ttl_s: int = Field(default=7 * 86_400, gt=0, validation_alias="MULTILLM_CONVERSATION_TTL_S")
    # a history budget below the context window
    conversation_max_tokens: int | None = Field(default=None, gt=0, validation_alias="MULTILLM_CONVERSATION_MAX_TOKENS")
    cache_ttl_s: int = Field(default=86_400, gt=0, validation_alias="MULTILLM_CACHE_TTL_S")
    # per tenant; the oldest go first
    cache_max_entries: int = Field(default=10_000, gt=0, validation_alias="MULTILLM_CACHE_MAX_ENTRIES")
    # larger answers are not cached
    cache_max_entry_bytes: int = Field(default=1_000_000, gt=0, validation_alias="MULTILLM_CACHE_MAX_ENTRY_BYTES")
    # tenants whose jobs use the cache unless told not to (comma-separated)
    cache_tenants: list[str] = Field(default_factory=list, validation_alias="MULTILLM_CACHE_TENANTS")
    # local facts about models: limits and prices (common/model_facts.py)
    models_file: str | None = Field(default=None, validation_alias="MULTILLM_MODELS")
    # the gateway: browser origins CORS allows (comma-separated), and the largest request body
    cors_origins: list[str] = Field(default_factory=list, validation_alias="CORS_ORIGINS")
    gateway_max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0, validation_alias="MULTILLM_GATEWAY_MAX_BODY_BYTES")
    limits: InputLimits = Field(default_factory=InputLimits)  # MULTILLM_MAX_*, MULTILLM_URL_ALLOWLIST (LIMIT_VARS)
    providers: dict[str, ProviderSettings]

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        return init_settings, Environment(settings_cls, os.environ if environ is None else environ)

    @field_validator("cache_tenants", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [o.strip() for o in value.split(",") if o.strip()]
        for origin in value or []:
            if origin != "*" and not str(origin).startswith(("http://", "https://")):
                raise ValueError(f"{origin!r}: an origin is scheme://host[:port], or *")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return url

    @field_validator("encryption_master_key", "encryption_master_key_previous")
    @classmethod
    def _master_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None:
            return None
        text = key.get_secret_value()
        if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError("must be 64 hexadecimal characters (32 bytes); make one with `multillm keygen`")
        return key

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


# Variable -> field, for the flat fields: each field's alias.
GLOBAL_VARS = {str(f.validation_alias): name for name, f in Settings.model_fields.items() if f.validation_alias}
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
             f"{p}_MAX_CONCURRENT": "max_concurrent"}
    names.update(rate_limit_names(f"{p}_"))
    return names


def rate_limit_names(prefix: str = "") -> dict[str, str]:
    """`RATE_LIMIT_*` (a provider key's window) and `TENANT_RATE_LIMIT_*` (each tenant's, at submit)."""
    names = {f"{prefix}{var}": f"rate_limit.{field}" for var, field in RATE_LIMIT_VARS.items()}
    names.update({f"{prefix}TENANT_{var}": f"tenant_rate_limit.{field}" for var, field in RATE_LIMIT_VARS.items()})
    return names


def group_variables() -> dict[str, str]:
    """Variable -> dotted field path, for the grouped fields (global rate limits and each provider)."""
    names = {**rate_limit_names(), **LIMIT_VARS}
    for pid in SPECS:
        names.update({var: f"providers.{pid}.{path}" for var, path in env_names(pid).items()})
    return names


def known_variables() -> set[str]:
    """Every variable a setting reads."""
    return set(GLOBAL_VARS) | set(group_variables())


class Environment(PydanticBaseSettingsSource):
    """Reads settings from an environment mapping (os.environ, or the mapping `load_settings` is given).

    Written here rather than using pydantic-settings' EnvSettingsSource, for two reasons: that source
    reads only os.environ, while callers validate a given mapping (`load_settings({...})`); and the
    grouped variables follow no rule it can express (a prefix per provider, `GITHUB_TOKEN` for a key,
    and `_` both inside names and between levels, as in `ANTHROPIC_TENANT_RATE_LIMIT_WINDOW_MS`). An
    unknown `MULTILLM_*` variable is passed on under its own name, so the model (extra="forbid")
    reports it together with every other problem. An empty value counts as unset.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = {k: v for k, v in environ.items() if isinstance(v, str) and v != ""}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = str(field.validation_alias or field_name)
        return self.environ.get(name), name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {var: self.environ[var] for var in GLOBAL_VARS if var in self.environ}
        data["providers"] = {pid: {"id": pid} for pid in SPECS}
        for var, path in group_variables().items():
            if var in self.environ:
                *parents, leaf = path.split(".")
                node = data
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = self.environ[var]
        known = known_variables()
        data.update({var: "" for var in self.environ if var.startswith(UNKNOWN_PREFIX) and var not in known})
        return data


def _var_for(loc: tuple[Any, ...]) -> str:
    """The environment variable a pydantic error location came from."""
    path = ".".join(str(part) for part in loc)
    return next((var for var, field in group_variables().items() if field == path), path)


def _problem(error: Any) -> str:
    var = _var_for(tuple(error["loc"]))
    if error["type"] != "extra_forbidden":
        return f"{var}: {error['msg']}"  # never the input: it may be a key
    # compared without the shared prefix, which would make every pair look alike
    ours = sorted(v.removeprefix(UNKNOWN_PREFIX) for v in known_variables() if v.startswith(UNKNOWN_PREFIX))
    close = difflib.get_close_matches(var.removeprefix(UNKNOWN_PREFIX), ours, n=1)
    return f"{var}: unknown variable" + (f" (did you mean {UNKNOWN_PREFIX}{close[0]}?)" if close else "")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from `env` (default: the process environment); one
    ConfigurationError lists every problem, by variable name."""
    token = _ENVIRON.set(env)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigurationError("invalid settings: " + "; ".join(_problem(e) for e in exc.errors())) from None
    finally:
        _ENVIRON.reset(token)
    register_secrets(settings)
    return settings


def register_secrets(settings: Settings) -> None:
    """Every key the settings hold, masked in everything this process writes (multillm.common.redact)."""
    keys = [settings.encryption_master_key, settings.encryption_master_key_previous,
            *(p.api_key for p in settings.providers.values())]
    for secret in keys:
        register(secret.get_secret_value() if secret else None)
    register(urlsplit(settings.redis_url).password if settings.redis_url else None)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated on first use."""
    return load_settings()
