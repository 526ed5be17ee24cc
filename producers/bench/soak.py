"""The chaos soak: every kind of chaos at once for a stated time, then a count of what was lost or
duplicated.

    multillm bench soak --minutes 10 --jobs-per-minute 240

An embedded system on its own Redis with append-only persistence, several worker processes per
provider and the simulator with a fault mix. Jobs are submitted at a steady rate; a share of them
get a consumer (live, slow, or reconnecting). Meanwhile a worker is SIGKILLed and replaced every
few seconds and Redis is restarted every minute or two. Then every accepted job is checked
(`soak_check`): it has a result, written once; its stream has no gap and no repeat; every consumer's
final text equals the stored result; it ended by its deadline.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from kombu.exceptions import OperationalError

from multillm.common import constants
from multillm.common.providers import SPECS
from multillm.common.settings import load_settings
from multillm.producers.bench.chaos import (
    CONSUMER_KINDS,
    FAULT_MIX,
    RedisRestarter,
    Seen,
    WorkerKiller,
    clear_faults,
    consume,
    set_fault_mix,
    simulator_stats,
)
from multillm.producers.bench.soak_check import Submitted, check_soak
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import start_redis, stop
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

# Short leases and provider timeouts, so a killed worker's jobs and a stalled stream are taken up
# again within seconds (the defaults, 10 s and 60 s, would leave a short soak mostly waiting).
SOAK_ENV = {
    "MULTILLM_LEASE_TTL_S": "2",
    "MULTILLM_IDLE_TIMEOUT_S": "3",
    "MULTILLM_FIRST_TOKEN_TIMEOUT_S": "3",
    "MULTILLM_CONNECT_TIMEOUT_S": "2",
    "LOG_LEVEL": "warning",
}
SIMULATOR_ARGS = ["--ttft-ms", "20", "--tokens-per-second", "100", "--max-tokens", "400"]
DRAIN_GRACE_S = 30.0  # after the last deadline, how long to wait for results before calling jobs lost


@dataclass
class SoakConfig:
    minutes: float = 10.0
    jobs_per_minute: int = 240
    providers: tuple[str, ...] = ("openai", "anthropic", "google")  # one of each wire format
    workers_per_provider: int = 2
    concurrency: int = 16  # slots per worker process
    fault_rate: float = 0.15
    faults: tuple[str, ...] = FAULT_MIX
    kill_every_s: float = 20.0
    redis_restart_every_s: float = 120.0
    consumer_share: float = 0.4  # jobs that get a consumer while they run
    deadline_s: float = 90.0
    seed: int = 1
    log_dir: Path | None = None  # keep the Redis, simulator and worker logs here (default: removed)

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    def intervals(self) -> tuple[float, float]:
        """Kill and restart intervals, shortened so even a short run has several of each."""
        return min(self.kill_every_s, self.seconds / 4), min(self.redis_restart_every_s, self.seconds / 3)


def bench_soak(minutes: float = 10.0, jobs_per_minute: int = 240,
               echo: Callable[[str], None] = print) -> dict[str, Any]:
    return run_soak(SoakConfig(minutes=minutes, jobs_per_minute=jobs_per_minute), echo)


def run_soak(config: SoakConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the soak on a system of its own and return its figures (`ok` is False on any loss)."""
    env = {**SOAK_ENV, **{SPECS[p].api_key_env: "" for p in config.providers}}
    with tempfile.TemporaryDirectory(prefix="multillm-soak-") as tmp:
        data, logs = Path(tmp) / "redis", config.log_dir or Path(tmp) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        process, url = start_redis(data_dir=data, persist=True, log=logs / "redis.log")
        kill_every, restart_every = config.intervals()
        restarter = RedisRestarter(process, url, data, restart_every, log=logs / "redis.log")
        settings = load_settings({**env, "REDIS_URL": url})
        options = SystemOptions(providers=list(config.providers), concurrency=config.concurrency, log_dir=logs,
                                extra_env=env, simulator_args=SIMULATOR_ARGS)
        system = EmbeddedSystem(settings, options)
        killer = WorkerKiller(system, kill_every, random.Random(config.seed + 1))
        try:
            with system, MultiLLM(url, settings=settings) as client:
                for provider in config.providers:
                    for _ in range(config.workers_per_provider - 1):
                        system.start_worker(provider)
                system.wait_for_workers(list(system.workers))
                return Soak(config, system, client, killer, restarter, echo).run()
        finally:  # the chaos threads end after the processes they started have been stopped
            killer.close()
            restarter.stop()
            stop([restarter.process])
            restarter.close()


@dataclass
class Soak:
    config: SoakConfig
    system: EmbeddedSystem
    client: MultiLLM
    killer: WorkerKiller
    restarter: RedisRestarter
    echo: Callable[[str], None]
    submitted: list[Submitted] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    consumers: list[threading.Thread] = field(default_factory=list)
    submit_retries: int = 0

    def run(self) -> dict[str, Any]:
        config, sim = self.config, self.system.simulator_url or ""
        rng = random.Random(config.seed)
        killer = self.killer
        set_fault_mix(sim, config.fault_rate, config.faults)
        started = time.monotonic()
        killer.start()
        self.restarter.start()
        try:
            self._submit_all(rng, started)
        finally:
            killer.stop()
            self.restarter.stop()
        self.echo(f"submitted {len(self.submitted)} jobs; chaos stopped; waiting for results")
        self._drain()
        clear_faults(sim)
        figures = check_soak(self.client.redis, self.submitted, self.seen)
        figures.update(self._chaos_figures(killer, simulator_stats(sim), time.monotonic() - started))
        # Chaos that did not happen proves nothing; a worker that died on its own is lost capacity.
        figures["ok"] = figures["ok"] and not figures["chaos_errors"] and not figures["workers_exited"]
        for line in summary_lines(figures):
            self.echo(line)
        return figures

    def _submit_all(self, rng: random.Random, started: float) -> None:
        config = self.config
        total = round(config.jobs_per_minute * config.minutes)
        interval = 60 / config.jobs_per_minute
        run_id = f"{int(time.time())}-{rng.randrange(1 << 30):x}"
        for i in range(total):
            time.sleep(max(0.0, started + i * interval - time.monotonic()))  # a steady rate, not a burst
            provider = rng.choice(config.providers)
            job_id = f"soak-{run_id}-{i}"
            self._submit(job_id, provider, max_tokens=rng.randint(16, 160))
            if rng.random() < config.consumer_share:
                self._start_consumer(job_id, rng.choice(CONSUMER_KINDS))
            if i and i % config.jobs_per_minute == 0:
                self.echo(f"minute {i // config.jobs_per_minute}: {i} jobs submitted")

    def _submit(self, job_id: str, provider: str, max_tokens: int) -> None:
        """Submit, retrying with the same job id while Redis restarts (submission is idempotent)."""
        submitted_before = time.time()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.submit(provider, f"soak job {job_id}", job_id=job_id, max_tokens=max_tokens,
                                            deadline_s=self.config.deadline_s)
                break
            except (redis.RedisError, OperationalError):
                self.submit_retries += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.submitted.append(Submitted(job_id, provider, self.config.deadline_s, submitted_before))

    def _start_consumer(self, job_id: str, kind: str) -> None:
        thread = threading.Thread(target=self._consume, args=(job_id, kind), name=f"consumer-{job_id}", daemon=True)
        thread.start()
        self.consumers.append(thread)

    def _consume(self, job_id: str, kind: str) -> None:
        try:
            seen = consume(self.client, job_id, kind, timeout=self.config.deadline_s + DRAIN_GRACE_S)
        except Exception as exc:  # counted as a failed check, never a silently missing consumer
            seen = Seen(job_id, kind, error=f"{type(exc).__name__}: {exc}")
        self.seen.append(seen)

    def _drain(self) -> None:
        """Wait until every accepted job has a result, or its deadline and a grace have passed."""
        last_deadline = max((s.deadline_at for s in self.submitted), default=time.time())
        pending = [s.job_id for s in self.submitted]
        while pending and time.time() < last_deadline + DRAIN_GRACE_S:
            stored = self.client.redis.mget([constants.result(j) for j in pending])
            pending = [j for j, raw in zip(pending, stored, strict=True) if raw is None]
            if pending:
                time.sleep(0.5)
        for thread in self.consumers:
            thread.join(max(0.1, last_deadline + DRAIN_GRACE_S - time.time()))

    def _chaos_figures(self, killer: WorkerKiller, stats: dict[str, Any], wall_s: float) -> dict[str, Any]:
        config = self.config
        faults = dict(sorted(stats.get("faults", {}).items()))
        return {
            "minutes": config.minutes, "jobs_per_minute": config.jobs_per_minute, "wall_s": round(wall_s, 1),
            "providers": list(config.providers), "worker_processes": len(config.providers) * config.workers_per_provider,
            "worker_concurrency": config.concurrency, "fault_rate": config.fault_rate, "deadline_s": config.deadline_s,
            "submit_retries": self.submit_retries, "worker_kills": killer.count,
            "workers_exited": sum(1 for p in self.system.workers.values() if p.poll() is not None),
            "redis_restarts": self.restarter.count,
            "redis_down_s_max": round(max(self.restarter.down_s, default=0.0), 2),
            "chaos_errors": killer.errors + self.restarter.errors,
            "faults_injected": faults, "faults_total": sum(faults.values()),
            "simulator_requests": sum(stats.get("requests", {}).values()),
        }


def summary_lines(f: dict[str, Any]) -> list[str]:
    """The soak's figures for a person: what ran, what was injected, and what was lost or duplicated."""
    faults = ", ".join(f"{name} {n}" for name, n in f["faults_injected"].items()) or "none"
    codes = ", ".join(f"{code} {n}" for code, n in f["failed_by_code"].items()) or "none"
    return [
        f"soak: {f['minutes']:g} min ({f['wall_s']:g} s with the drain), {f['jobs_per_minute']} jobs/min, "
        f"providers {', '.join(f['providers'])}, {f['worker_processes']} worker processes x {f['worker_concurrency']} slots",
        f"jobs submitted {f['jobs_submitted']}, results stored {f['results_stored']} "
        f"(succeeded {f['succeeded']}, failed {f['failed']}: {codes})",
        f"worker kills {f['worker_kills']}, workers that exited on their own {f['workers_exited']}, "
        f"Redis restarts {f['redis_restarts']} "
        f"(longest outage {f['redis_down_s_max']:g} s), submit retries {f['submit_retries']}",
        f"faults injected {f['faults_total']} of {f['simulator_requests']} provider requests: {faults}",
        f"consumers {f['consumers']}, reconnects {f.get('consumer_reconnects', 0)}; "
        f"jobs with more than one attempt {f['jobs_with_several_attempts']}, retries {f['retries_published']}",
        f"lost {f['lost']}, duplicated {f['duplicated']}, consumer text mismatches {f['consumer_text_mismatches']}, "
        f"replay mismatches {f['replay_text_mismatches']}, consumer hangs {f['consumer_hangs']}, "
        f"past deadline {f['past_deadline']}",
        f"latency p50 {f['latency_p50_s']:g} s, p95 {f['latency_p95_s']:g} s, max {f['latency_max_s']:g} s",
        *(f"chaos error: {e}" for e in f["chaos_errors"]),
        "OK: nothing lost or duplicated" if f["ok"] else f"FAILED: {f['examples']}",
    ]
