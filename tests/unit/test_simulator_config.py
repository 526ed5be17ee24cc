"""The simulator's config: validation, run-time merges, and how a request's fault is chosen."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from multillm.producers.simulator import FAULTS, QuotaLimits, SimulatorConfig
from multillm.producers.simulator.faults import UnknownFault, choose_fault


def test_merging_replaces_named_fields_and_keeps_the_rest():
    config = SimulatorConfig(ttft_ms=5, faults=["500"])
    merged = config.merged({"fault_rate": 0.5, "provider_faults": {"openai": ["429"]}})
    assert (merged.ttft_ms, merged.faults, merged.fault_rate) == (5, ["500"], 0.5)
    assert merged.provider_faults == {"openai": ["429"]}
    assert merged.merged({"provider_faults": {}}).provider_faults == {}  # top-level fields replace, never deep-merge
    assert config.fault_rate == 0.0  # configs are values: merging makes a new one


@pytest.mark.parametrize("changes", [
    {"faults": ["nope"]}, {"fault_rate": 1.5}, {"tokens_per_second": -1}, {"unknown_field": 1},
    {"provider_faults": {"nobody": ["500"]}}, {"provider_fault_rate": {"openai": 2}}, {"quota_rpm": 0},
    {"provider_quotas": {"openai": {"rpm": 1, "rph": 2}}},
])
def test_invalid_changes_are_refused(changes):
    with pytest.raises(ValidationError):
        SimulatorConfig().merged(changes)


def test_the_config_round_trips_through_json():
    config = SimulatorConfig(provider_quotas={"grok": QuotaLimits(rpm=3)}, provider_fault_rate={"google": 0.2})
    assert SimulatorConfig.model_validate_json(config.model_dump_json()) == config


def test_quota_limits_per_provider_override_the_global_ones():
    config = SimulatorConfig(quota_rpm=10, quota_tpm=1000, provider_quotas={"grok": QuotaLimits(rpm=3)})
    assert config.limits("openai") == QuotaLimits(rpm=10, tpm=1000)
    assert config.limits("grok") == QuotaLimits(rpm=3)


def test_a_header_beats_a_marker_which_beats_a_random_draw():
    config = SimulatorConfig(fault_rate=1.0, faults=["500"])
    rng = random.Random(0)
    assert choose_fault(config, "openai", "[[fault:drop]] hi", "stall", rng) == "stall"
    assert choose_fault(config, "openai", "[[fault:drop]] hi", None, rng) == "drop"
    assert choose_fault(config, "openai", "hi", None, rng) == "500"
    assert choose_fault(SimulatorConfig(), "openai", "hi", None, rng) is None


def test_a_misspelt_fault_is_an_error_not_silence():
    with pytest.raises(UnknownFault, match="known: 429"):
        choose_fault(SimulatorConfig(), "openai", "[[fault:stal]]", None, random.Random(0))


def test_provider_faults_strike_every_request_unless_given_a_rate():
    rng = random.Random(1)
    forced = SimulatorConfig(provider_faults={"anthropic": ["529"]})
    assert {choose_fault(forced, "anthropic", "hi", None, rng) for _ in range(20)} == {"529"}
    assert choose_fault(forced, "openai", "hi", None, rng) is None
    sometimes = forced.merged({"provider_fault_rate": {"anthropic": 0.5}})
    draws = [choose_fault(sometimes, "anthropic", "hi", None, rng) for _ in range(400)]
    assert 120 < draws.count("529") < 280 and set(draws) == {"529", None}


def test_a_provider_rate_alone_draws_from_the_global_list():
    config = SimulatorConfig(faults=["503"], provider_fault_rate={"google": 1.0})
    rng = random.Random(2)
    assert choose_fault(config, "google", "hi", None, rng) == "503"
    assert choose_fault(config, "openai", "hi", None, rng) is None


def test_the_seed_makes_random_faults_repeatable():
    config = SimulatorConfig(fault_rate=0.3, faults=list(FAULTS))
    runs = []
    for _ in range(2):
        rng = random.Random(config.seed)
        runs.append([choose_fault(config, "openai", "hi", None, rng) for _ in range(50)])
    assert runs[0] == runs[1] and len(set(runs[0])) > 2
