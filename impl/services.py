"""What one process of the service holds: its settings and the collaborators built from them."""

from __future__ import annotations

import dataclasses

from applytry.config import Settings
from applytry.sms import SmsSender
from applytry.verification import CodeIssuer


@dataclasses.dataclass
class Services:
    settings: Settings
    sender: SmsSender
    issuer: CodeIssuer

    async def aclose(self) -> None:
        await self.sender.aclose()
