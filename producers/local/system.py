"""A whole multillm system on this machine: Redis (unless REDIS_URL is set), the simulator for
every provider without an API key, one Celery worker per provider queue, and the HTTP gateway.

`supervise()` restarts whatever part has died: Redis on the same port with the same password and
data directory (with `data_dir`, its append-only file brings back every job it had accepted), the
simulator on the same port, each worker, the beat and the gateway (on its port)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import httpx
import redis

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.providers import SPECS
from multillm.common.settings import Settings
from multillm.producers.local.embedded import free_port, new_password, python_module, spawn, start_redis, stop
from multillm.producers.simulator.config import SIMULATED_KEY
from multillm.producers.simulator.urls import base_urls


@dataclass
class SystemOptions:
    providers: list[str] = field(default_factory=lambda: list(SPECS))
    concurrency: int | None = None  # per worker; None: each provider's <PREFIX>_CONCURRENCY
    pool: str = "threads"
    simulator_args: list[str] = field(default_factory=list)
    log_dir: Path | None = None
    beat: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)  # for every child process
    metrics: bool = False  # give each worker its own MULTILLM_METRICS_PORT
    one_worker: bool = False  # a single worker process serves every provider's queue
    data_dir: Path | None = None  # the embedded Redis keeps an append-only file here (none: in memory only)
    redis_maxmemory: str | None = "1gb"  # the embedded Redis refuses writes past this (noeviction)
    gateway_port: int | None = None  # serve the HTTP gateway on this port (0: any free port)


class EmbeddedSystem:
    """Start with `start()`, stop with `stop()` (or use it as a context manager)."""

    def __init__(self, settings: Settings, options: SystemOptions | None = None) -> None:
        self.settings = settings
        self.options = options or SystemOptions()
        self.processes: list[Popen[bytes]] = []
        self.workers: dict[str, Popen[bytes]] = {}
        self.redis_url = settings.redis_url or ""
        self.simulator_url: str | None = None
        self.simulated: list[str] = []
        self.metrics_ports: dict[str, int] = {}
        self.redis_process: Popen[bytes] | None = None  # the embedded server, when this system started one
        self.simulator_process: Popen[bytes] | None = None
        self.beat_process: Popen[bytes] | None = None
        self._redis_port = 0
        self._redis_password = ""
        self._beats = 0
        self.gateway_url: str | None = None
        self.gateway_process: Popen[bytes] | None = None

    def __enter__(self) -> EmbeddedSystem:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _log(self, name: str) -> Path | None:
        return self.options.log_dir / f"{name}.log" if self.options.log_dir else None

    def start(self, wait: float = 60.0) -> None:
        if self.options.log_dir:
            self.options.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.redis_url:
                self._redis_port, self._redis_password = free_port(), new_password()
                self.redis_process, self.redis_url = self._start_redis()
                self.processes.append(self.redis_process)
            # A provider with neither a key nor a base URL of its own is simulated.
            self.simulated = [p for p in self.options.providers
                              if self.settings.provider(p).api_key is None and not self.settings.provider(p).base_url]
            if self.simulated:
                self._start_simulator()
            if self.options.one_worker:
                self.start_worker(*self.options.providers)
            else:
                for provider in self.options.providers:
                    self.start_worker(provider)
            if self.options.beat:
                self.start_beat()
            if self.options.gateway_port is not None:
                self.gateway_url = self.start_gateway(self.options.gateway_port)
                self.gateway_process = self.processes[-1]  # the system's own gateway, restarted by supervise()
            self.wait_for_workers(list(self.workers), wait)
        except BaseException:
            self.stop()
            raise

    def _start_redis(self) -> tuple[Popen[bytes], str]:
        return start_redis(port=self._redis_port, data_dir=self.options.data_dir, persist=self.options.data_dir is not None,
                           log=self._log("redis"), password=self._redis_password, maxmemory=self.options.redis_maxmemory)

    def _start_simulator(self, port: int | None = None) -> None:
        port = port or free_port()
        args = python_module("multillm.producers.cli.main", "simulate", "--port", str(port),
                             *self.options.simulator_args)
        self.simulator_process = spawn(args, env=dict(os.environ, **self.options.extra_env), log=self._log("simulator"))
        self.processes.append(self.simulator_process)
        self.simulator_url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.simulator_url}/_simulator/stats", timeout=0.5).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > end or self.simulator_process.poll() is not None:
                    raise ConfigurationError("the provider simulator did not start") from None
                time.sleep(0.05)

    def worker_env(self) -> dict[str, str]:
        env = dict(os.environ, **self.options.extra_env, REDIS_URL=self.redis_url)
        urls = base_urls(self.simulator_url) if self.simulator_url else {}
        for provider in self.simulated:
            spec = SPECS[provider]
            env[spec.base_url_env] = urls[provider]
            env[spec.api_key_env] = SIMULATED_KEY
        return env

    def start_worker(self, provider: str, *also: str, name: str | None = None) -> Popen[bytes]:
        """A worker for `provider`'s queue (and the queues of `also`)."""
        concurrency = self.options.concurrency or self.settings.provider(provider).concurrency
        name = name or f"{provider}-{os.getpid()}-{len(self.processes)}"
        queues = ",".join([*(constants.queue(p) for p in (provider, *also)), constants.HEALTH_QUEUE])
        args = python_module("celery", "-A", "multillm.workers", "worker", "-Q", queues,
                             "-P", self.options.pool, "-c", str(concurrency), "-n", f"{name}@%h",
                             "-l", self.settings.log_level, "--without-gossip", "--without-mingle")
        env = self.worker_env()
        if self.options.metrics:
            self.metrics_ports[name] = free_port()
            env["MULTILLM_METRICS_PORT"] = str(self.metrics_ports[name])
        process = spawn(args, env=env, log=self._log(f"worker-{name}"))
        self.processes.append(process)
        self.workers[name] = process
        return process

    def start_beat(self) -> Popen[bytes]:
        """Celery beat, which sends the health task every MULTILLM_HEALTH_INTERVAL_S."""
        self._beats += 1  # a new schedule file each time: one a killed beat left may be half written
        schedule = (self.options.log_dir or Path("/tmp")) / f"beat-{os.getpid()}-{self._beats}.schedule"
        args = python_module("celery", "-A", "multillm.workers", "beat", "-l", "warning", "-s", str(schedule))
        self.beat_process = spawn(args, env=self.worker_env(), log=self._log(f"beat-{len(self.processes)}"))
        self.processes.append(self.beat_process)
        return self.beat_process

    def start_gateway(self, port: int = 0, env: dict[str, str] | None = None) -> str:
        """`multillm serve` on 127.0.0.1 (a free port for 0); its URL once it answers /healthz."""
        port = port or free_port()
        args = python_module("multillm.producers.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port))
        process = spawn(args, env=dict(os.environ, **{**self.options.extra_env, **(env or {}), "REDIS_URL": self.redis_url}),
                        log=self._log(f"gateway-{port}"))
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=0.5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > end or process.poll() is not None:
                    raise ConfigurationError(f"the gateway did not start on port {port}") from None
                time.sleep(0.05)
        if (env is None and self.gateway_process is None) or url == self.gateway_url:
            self.gateway_process = process  # the system's own gateway, restarted by supervise()
        return url

    def supervise(self) -> list[str]:
        """Restart every part that has exited; what was restarted, Redis first."""
        restarted = []
        if self.redis_process is not None and self.redis_process.poll() is not None:
            self._forget(self.redis_process)
            self.redis_process, _ = self._start_redis()
            self.processes.insert(0, self.redis_process)  # stopped last, after everything that uses it
            restarted.append("redis")
        if self.simulator_process is not None and self.simulator_process.poll() is not None and self.simulator_url:
            self._forget(self.simulator_process)
            self._start_simulator(int(self.simulator_url.rsplit(":", 1)[1]))
            restarted.append("simulator")
        for name, process in list(self.workers.items()):
            if process.poll() is not None:
                self._forget(process)
                del self.workers[name]
                restarted.append(f"worker {name}")
                self.start_worker(*self._queues_of(name))
        if self.beat_process is not None and self.beat_process.poll() is not None:
            self._forget(self.beat_process)
            self.start_beat()
            restarted.append("beat")
        if self.gateway_process is not None and self.gateway_process.poll() is not None and self.gateway_url:
            self._forget(self.gateway_process)
            self.start_gateway(int(self.gateway_url.rsplit(":", 1)[1]))
            self.gateway_process = self.processes[-1]
            restarted.append("gateway")
        return restarted

    def _forget(self, process: Popen[bytes]) -> None:
        process.wait()
        if process in self.processes:  # not when a restart before this one failed
            self.processes.remove(process)

    def _queues_of(self, name: str) -> list[str]:
        """The providers a worker named by `start_worker` served."""
        return list(self.options.providers) if self.options.one_worker else [name.split("-")[0]]

    def wait_for_workers(self, names: list[str], timeout: float = 60.0) -> None:
        client = redis.Redis.from_url(self.redis_url)
        end = time.monotonic() + timeout
        try:
            while True:
                ready = {k.decode().split(":", 2)[2].split("@")[0] for k in client.keys(constants.worker("*"))}
                missing = [n for n in names if n not in ready]
                if not missing:
                    return
                dead = [n for n in missing if self.workers[n].poll() is not None]
                if dead or time.monotonic() > end:
                    raise ConfigurationError(f"workers did not start: {', '.join(dead or missing)}")
                time.sleep(0.1)
        finally:
            client.close()

    def env(self) -> dict[str, str]:
        """Variables that point another program at this system."""
        env = {"REDIS_URL": self.redis_url}
        if self.simulator_url:
            urls = base_urls(self.simulator_url)
            for provider in self.simulated:
                env[SPECS[provider].base_url_env] = urls[provider]
        return env

    def stop(self) -> None:
        stop(list(reversed(self.processes)))
        self.processes.clear()
        self.workers.clear()
