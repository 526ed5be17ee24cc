"""What one worker process shares between jobs: Redis, job records, leases, quotas, the circuit breaker,
HTTP connection pools, the key vault, and the lookup of the key a job is run with."""

from __future__ import annotations

import threading
import zlib

import httpx
import redis

from multillm.common.errors import AuthenticationError
from multillm.common.job_record import JobRecords
from multillm.common.jobs import Job
from multillm.common.lease import LeaseKeeper
from multillm.common.provider_health import Circuit
from multillm.common.providers import get_spec
from multillm.common.quota import Quota
from multillm.common.response_watch import on_response
from multillm.common.run.start import Starter
from multillm.common.settings import Settings
from multillm.common.stream import Batcher
from multillm.common.tenants import may_use_operator_key
from multillm.common.vault import Vault

HTTP_SHARDS = 32  # httpx clients per provider base URL (see Runtime.http_client)


class Runtime:
    """Made once per worker process (after a prefork child is forked) and shared by its job threads."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        # Blocking: a thread waits for a free connection instead of failing when every one is in use.
        # Connections open lazily, so the ceiling costs nothing until a worker has that many slots busy.
        pool = redis.BlockingConnectionPool.from_url(settings.redis_url or "redis://127.0.0.1:6379/0",
                                                     max_connections=5000, timeout=30)
        self.redis = client or redis.Redis(connection_pool=pool)
        self.leases = LeaseKeeper(self.redis, settings.lease_ttl_s)
        self.records = JobRecords.from_settings(self.redis, settings)
        self.starter = Starter(self.redis, self.leases, settings.limits.max_job_bytes)
        self.batcher = Batcher(self.redis)
        self.quota = Quota(self.redis)
        self.circuit = Circuit(self.redis, settings.circuit_failures, settings.circuit_cooldown_s)
        master, previous = settings.encryption_master_key, settings.encryption_master_key_previous
        self.vault = Vault(self.redis, master.get_secret_value(),
                           previous.get_secret_value() if previous else None) if master else None
        self._http: dict[tuple[str, int], httpx.Client] = {}
        self._lock = threading.Lock()

    def http_client(self, base_url: str, shard_key: str = "") -> httpx.Client:
        """A pooled client for `base_url`; jobs spread over HTTP_SHARDS of them by `shard_key` (the job id).

        httpcore's pool looks at every connection it holds each time it assigns a request
        (`ConnectionPool._assign_requests_to_connections`), so one pool holding thousands of open
        streams spent most of a worker's CPU there and started jobs ever more slowly (BENCHMARKS.md,
        capacity); each shard holds a fraction of them."""
        key = (base_url, zlib.crc32(shard_key.encode()) % HTTP_SHARDS if shard_key else 0)
        with self._lock:
            if key not in self._http:
                limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
                self._http[key] = httpx.Client(limits=limits, event_hooks={"response": [on_response]})
            return self._http[key]

    def api_key(self, job: Job) -> str:
        """The tenant's key from the vault, else the provider's environment key; decrypted in memory only."""
        if self.vault is not None:
            stored = self.vault.get(job.tenant, job.provider)
            if stored:
                return stored
        if not may_use_operator_key(self.redis, job.tenant):
            raise AuthenticationError(f"no API key for tenant {job.tenant!r}: store one with `multillm keys set`",
                                      provider=job.provider, model=job.model, job_id=job.job_id)
        secret = self.settings.provider(job.provider).api_key
        if secret is None and self.settings.provider(job.provider).base_url:
            return ""  # a self-hosted server at <PREFIX>_BASE_URL may need no key: none is sent
        if secret is None:
            spec = get_spec(job.provider)
            raise AuthenticationError(f"no API key: set {spec.api_key_env}", provider=job.provider,
                                      model=job.model, job_id=job.job_id)
        return secret.get_secret_value()
