"""Telling the operator's own systems about each new tenant, so they can create it in the
contact centre: a signed JSON POST (:mod:`applytry.signing`) to ``APPLYTRY_PROVISIONING_URL``.

The event carries the job's id, the same on every retry, for the receiver to drop duplicates:
a POST whose answer was lost is sent again. Any 2xx is done; anything else is retried.
"""

from __future__ import annotations

import asyncio
import datetime
import json

import httpx

from applytry.db.models import Job, Tenant
from applytry.jobs import JobFailed
from applytry.signing import signed_headers


def tenant_event(job: Job, tenant: Tenant) -> dict:
    return {
        "id": job.id,
        "type": "tenant.created",
        "tenant": {
            "id": tenant.id,
            "companyName": tenant.company_name,
            "phone": tenant.phone,
            "email": tenant.email,
            "adminAccount": tenant.admin_account,
            "accessCode": tenant.access_code,
            "status": tenant.status,
            "trialStart": _iso(tenant.trial_start),
            "trialEnd": _iso(tenant.trial_end),
        },
    }


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds")


class ProvisioningHook:
    def __init__(self, url: str, key: bytes, timeout_s: float):
        self.url = url
        self.key = key
        self.timeout_s = timeout_s
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))

    async def __call__(self, job: Job) -> None:
        tenant = Tenant.get_by_id(job.tenant_id)
        body = json.dumps(tenant_event(job, tenant), ensure_ascii=False).encode()
        try:
            # httpx's timeout bounds each phase; this bounds the call, which a stop waits for.
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.post(
                    self.url, content=body, headers=signed_headers(self.key, body)
                )
        except (httpx.HTTPError, TimeoutError) as exc:
            raise JobFailed(f"provisioning hook: {type(exc).__name__}") from exc
        if not response.is_success:
            raise JobFailed(f"provisioning hook: HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self.client.aclose()
