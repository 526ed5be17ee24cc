"""What the simulator does: timings, answer length, faults and quota. `PUT /_simulator/config`
merges a JSON object into it at run time (top-level fields replace, so `{"provider_faults": {}}`
clears every forced fault)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from multillm.producers.simulator.providers import PROVIDERS

FaultName = Literal["429", "500", "502", "503", "529", "401", "403", "400", "context", "stall", "stall_mid", "drop",
                    "malformed", "midstream_error", "content_filter"]
FAULTS: tuple[str, ...] = get_args(FaultName)
SIMULATED_KEY = "simulated-key-0000000000"  # a placeholder: a real key has no business reaching a simulator


class QuotaLimits(BaseModel):
    """A provider's own limits, per key, over a sliding 60-second window."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class SimulatorConfig(BaseModel):
    """Behaviour of the simulator. Per request, headers `x-simulator-ttft-ms`, `x-simulator-tps` and
    `x-simulator-fault` (or a `[[fault:NAME]]` marker in the last user message) override it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttft_ms: float = Field(default=30.0, ge=0, description="time to first token")
    tokens_per_second: float = Field(default=200.0, ge=0, description="0: as fast as possible")
    default_max_tokens: int = Field(default=32, gt=0, description="answer length without a smaller max_tokens")
    fault_rate: float = Field(default=0.0, ge=0, le=1, description="share of requests given a random fault")
    faults: list[FaultName] = Field(default_factory=lambda: ["429", "503", "drop"], description="drawn at fault_rate")
    provider_faults: dict[str, list[FaultName]] = Field(
        default_factory=dict, description="provider -> faults it draws from, on every request unless provider_fault_rate")
    provider_fault_rate: dict[str, float] = Field(default_factory=dict, description="provider -> its own fault_rate")
    fault_after_chunks: int = Field(default=3, ge=0, description="token chunks before stall_mid/drop/malformed/midstream_error")
    stall_s: float = Field(default=600.0, ge=0, description="how long stall and stall_mid last")
    retry_after_s: float = Field(default=1.0, ge=0, description="retry-after of injected 429s")
    quota_rpm: int | None = Field(default=None, gt=0, description="requests per minute per provider and key")
    quota_tpm: int | None = Field(default=None, gt=0, description="tokens per minute per provider and key")
    provider_quotas: dict[str, QuotaLimits] = Field(default_factory=dict, description="provider -> limits instead")
    seed: int = Field(default=0, description="seed of the random fault draws")

    @field_validator("provider_faults", "provider_fault_rate", "provider_quotas")
    @classmethod
    def _known_providers(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(PROVIDERS))
        if unknown:
            raise ValueError(f"unknown providers {unknown}; known: {sorted(PROVIDERS)}")
        return value

    @field_validator("provider_fault_rate")
    @classmethod
    def _rates_are_shares(cls, value: dict[str, float]) -> dict[str, float]:
        if any(not 0 <= rate <= 1 for rate in value.values()):
            raise ValueError("provider_fault_rate: each rate must be between 0 and 1")
        return value

    def merged(self, changes: Mapping[str, Any]) -> SimulatorConfig:
        """A new config with `changes` applied field by field; raises pydantic.ValidationError."""
        return SimulatorConfig.model_validate({**self.model_dump(), **changes})

    def limits(self, provider: str) -> QuotaLimits:
        return self.provider_quotas.get(provider) or QuotaLimits(rpm=self.quota_rpm, tpm=self.quota_tpm)

    def fault_draw(self, provider: str) -> tuple[float, list[str]]:
        """(probability, names) of a random fault for one request to `provider`."""
        names = self.provider_faults.get(provider)
        rate = self.provider_fault_rate.get(provider)
        if names is not None:
            return (1.0 if rate is None else rate), list(names)
        return (self.fault_rate if rate is None else rate), list(self.faults)
