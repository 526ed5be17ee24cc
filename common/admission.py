"""Per-tenant request limits at the producer: the seed's RateLimitConfig, across all providers
(`TENANT_RATE_LIMIT_*`) and per provider (`<PREFIX>_TENANT_RATE_LIMIT_*`), counted per tenant.

A tenant over a limit is refused at submit with the configured message and the time until a slot
frees, before anything is written or enqueued, so one caller cannot flood the queues that every
tenant shares. The windows are the provider quotas' sliding-window logs (`multillm.common.quota`):
one script reserves in both windows or in neither.
"""

from __future__ import annotations

from multillm.common.errors import TenantRateLimited
from multillm.common.quota import QUOTA_PREFIX, Quota, QuotaRule, Window
from multillm.common.settings import RateLimitConfig, Settings


def tenant_windows(tenant: str, provider: str, every: RateLimitConfig, per_provider: RateLimitConfig) -> tuple[Window, ...]:
    base = f"{QUOTA_PREFIX}:tenant:{tenant}"
    windows = []
    if per_provider.enabled:
        windows.append(Window(provider, per_provider.max_requests, per_provider.window_ms, scope=base))
    if every.enabled:
        windows.append(Window("all", every.max_requests, every.window_ms, scope=base))
    return tuple(windows)


class Admission:
    """Checks and counts one submit against its tenant's limits."""

    def __init__(self, quota: Quota, settings: Settings) -> None:
        self.quota = quota
        self.settings = settings

    def enabled(self, provider: str) -> bool:
        return self.settings.tenant_rate_limit.enabled or self.settings.provider(provider).tenant_rate_limit.enabled

    def admit(self, tenant: str, provider: str, job_id: str) -> None:
        """Count the submit of `job_id`, or raise TenantRateLimited (nothing counted)."""
        every = self.settings.tenant_rate_limit
        per_provider = self.settings.provider(provider).tenant_rate_limit
        windows = tenant_windows(tenant, provider, every, per_provider)
        if not windows:
            return
        rule = QuotaRule(f"tenant-{provider}", tenant, windows, pending_hold_ms=0)  # counted at once: no call to await
        decision = self.quota.acquire(rule, job_id, 1)
        if not decision.granted:
            refused = per_provider if decision.reason == provider else every
            raise TenantRateLimited(refused.message, tenant=tenant, provider=provider, retry_after=decision.wait_s)
