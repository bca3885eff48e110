"""One day of the service in numbers, for ``applytry stats``: codes requested, sent, refused by
reason, failed by class and used; conversion; challenges by outcome; SMS and email spent
against their thresholds."""

from __future__ import annotations

import datetime

from peewee import fn

from applytry import limits
from applytry.challenges import OUTCOMES_DAY
from applytry.db.models import Counter, SmsMessage
from applytry.pumping import ISSUED, USED
from applytry.thresholds import Thresholds


def day_report(day: datetime.date, settings, thresholds: Thresholds) -> dict:
    zone = settings.zone
    start = datetime.datetime.combine(day, datetime.time(), zone).timestamp()
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), zone)
    in_day = (SmsMessage.created_at >= start) & (SmsMessage.created_at < end.timestamp())
    sent = dict(
        SmsMessage.select(SmsMessage.status, fn.COUNT(SmsMessage.id))
        .where(in_day)
        .group_by(SmsMessage.status)
        .tuples()
    )
    receipts = dict(
        SmsMessage.select(SmsMessage.receipt, fn.COUNT(SmsMessage.id))
        .where(in_day & SmsMessage.receipt.is_null(False))
        .group_by(SmsMessage.receipt)
        .tuples()
    )

    def counted(scope: str, **where) -> dict[str, int]:
        query = Counter.select(Counter.key, fn.SUM(Counter.count)).where(
            (Counter.scope == scope)
            & (Counter.window >= int(start))
            & (Counter.window < int(end.timestamp()))
        )
        if "prefix" in where:
            query = query.where(Counter.key.startswith(where["prefix"]))
        return dict(query.group_by(Counter.key).tuples())

    refused = counted(limits.REFUSED_DAY.scope)
    issued = sum(counted(ISSUED.scope, prefix="country:").values())
    used = sum(counted(USED.scope, prefix="country:").values())
    sms_spent = sum(counted(limits.SMS_DAY.scope).values())
    email_spent = sum(counted(limits.EMAIL_DAY.scope).values())
    return {
        "day": day.isoformat(),
        "requested": sum(sent.values()) + sum(refused.values()),
        "sent": sent.get("accepted", 0),
        "failed": {status: n for status, n in sent.items() if status != "accepted"},
        "refused": refused,
        "issued": issued,
        "used": used,
        "conversion": round(used / issued, 4) if issued else None,
        "receipts": receipts,
        "challenges": counted(OUTCOMES_DAY.scope),
        "sms": {"spent": sms_spent, "threshold": thresholds.get("sms_daily_limit")},
        "email": {"spent": email_spent, "threshold": thresholds.get("email_daily_limit")},
    }


def render(report: dict) -> str:
    conversion = "-" if report["conversion"] is None else f"{report['conversion']:.1%}"
    lines = [
        f"day            {report['day']}",
        f"requested      {report['requested']}",
        f"sent           {report['sent']}",
        f"failed         {_pairs(report['failed'])}",
        f"refused        {_pairs(report['refused'])}",
        f"used           {report['used']} of {report['issued']} issued ({conversion})",
        f"receipts       {_pairs(report['receipts'])}",
        f"challenges     {_pairs(report['challenges'])}",
        f"sms            {report['sms']['spent']} of {report['sms']['threshold']}",
        f"email          {report['email']['spent']} of {report['email']['threshold']}",
    ]
    return "\n".join(lines)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "none"
