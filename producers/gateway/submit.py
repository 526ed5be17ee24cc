"""The producer API call behind `POST /v1/chat/completions` and `POST /v1/jobs`, for one tenant.

Runs in a worker thread (the producer API is synchronous): route `auto` and tiers to a provider,
refuse a provider the tenant has no key for when it may not use the operator's, then submit with
the tenant bound to the job. Workers enforce the same key rule, so a fallback hop to another
provider cannot use the operator's key either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multillm.common.tenants import TenantRecord, has_own_key
from multillm.producers.client import MultiLLM
from multillm.producers.gateway.errors import GatewayError
from multillm.producers.gateway.wire import ChatCompletionRequest, JobRequest, resolve_model
from multillm.producers.handle import JobHandle


@dataclass
class Submission:
    job_id: str
    request: ChatCompletionRequest
    extra: dict[str, Any] = field(default_factory=dict)  # deadline_s, max_attempts


def submission(job_id: str, request: ChatCompletionRequest) -> Submission:
    extra: dict[str, Any] = {}
    if isinstance(request, JobRequest):
        extra = {k: v for k, v in (("deadline_s", request.deadline_s), ("max_attempts", request.max_attempts)) if v}
    return Submission(job_id, request, extra)


def submit(client: MultiLLM, tenant: TenantRecord, sub: Submission) -> JobHandle:
    provider, model, tier = resolve_model(sub.request.model, client.settings.tier_map())
    routed = provider == "auto" or tier is not None
    chosen, model = client.route(provider, model, tier, "health")
    if not tenant.shared_keys and not has_own_key(client.redis, tenant.name, chosen):
        raise GatewayError(403, f"tenant {tenant.name!r} has no {chosen} key and may not use the operator's",
                           type="permission_error", code="no_provider_key", param="model")
    return client.submit(chosen, sub.request.job_messages(), model=model, job_id=sub.job_id, tenant=tenant.name,
                         tier=tier or ("fast" if provider == "auto" else None), fallback=routed,
                         metadata=sub.request.job_metadata(), **sub.extra, **sub.request.options())
