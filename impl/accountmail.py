"""The account mail: administrator account, access code and a one-time setup token.

The token is never kept in clear. Each attempt to send the mail mints a fresh token and stores
only its keyed hash before the mail leaves, so a retried mail carries a working token and any
earlier one (from a mail that may have arrived after all) stops working.
"""

from __future__ import annotations

import datetime
import secrets

from applytry import messages
from applytry.db.models import Job, Tenant
from applytry.digests import Digests
from applytry.jobs import JobFailed
from applytry.mail import Mail, MailFailed, MailSender


class AccountMail:
    def __init__(self, mailer: MailSender, digests: Digests):
        self.mailer = mailer
        self.digests = digests

    async def __call__(self, job: Job) -> None:
        tenant = Tenant.get_by_id(job.tenant_id)
        token = secrets.token_urlsafe(24)
        Tenant.update(setup_token_digest=self.digests.setup_token(token)).where(
            Tenant.id == tenant.id
        ).execute()
        trial_end = datetime.datetime.fromtimestamp(tenant.trial_end, datetime.UTC)
        subject, text = messages.account_mail(
            tenant.language,
            company=tenant.company_name,
            trial_end=trial_end.strftime("%Y-%m-%d %H:%M"),
            account=tenant.admin_account,
            access_code=tenant.access_code,
            token=token,
        )
        try:
            await self.mailer.send(Mail(to=tenant.email, subject=subject, text=text))
        except MailFailed as exc:
            raise JobFailed(str(exc)) from exc
