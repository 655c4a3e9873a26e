"""The gateway's five endpoints."""

from __future__ import annotations

from enum import StrEnum


class Endpoint(StrEnum):
    """A gateway endpoint; the value is its path."""

    SEND = "/sms_send2.do"
    PERSONALIZED_SEND = "/hSmsSend.do"
    BALANCE = "/sms_count2.do"
    PULL_REPORTS = "/post_report.do"
    PULL_REPLIES = "/post_deliverMsg.do"

    @property
    def path(self) -> str:
        return self.value

    @property
    def is_send(self) -> bool:
        """Sends are not idempotent: a send whose reply was lost must never be repeated blindly."""
        return self in (Endpoint.SEND, Endpoint.PERSONALIZED_SEND)

    @property
    def is_paced(self) -> bool:
        """The gateway refuses these when called within 200 ms of the previous call."""
        return self in (Endpoint.BALANCE, Endpoint.PULL_REPORTS, Endpoint.PULL_REPLIES)


#: Minimum interval between two paced calls of one account, in seconds.
PACING_INTERVAL = 0.2
#: Numbers per same-content request, items per personalized request.
MAX_BATCH = 200
#: Characters per message content.
MAX_CONTENT_LENGTH = 1000
#: Characters of a corp_msg_id / item msg_id.
MAX_MSG_ID_LENGTH = 50
#: Digits of channel number + ext.
MAX_CALLER_ID_DIGITS = 20
#: Reports per pushed or pulled XML body.
MAX_REPORTS_PER_BODY = 100
#: Replies per pushed or pulled XML body.
MAX_REPLIES_PER_BODY = 10
#: Separators of the personalized send_param; content containing them cannot be sent.
ITEM_SEPARATOR = "&group&"
FIELD_SEPARATOR = "&split&"
#: Encoding of every form body, reply and push.
WIRE_ENCODING = "gbk"
