"""Typed values that cross the protocol boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from airflow_provider_hbsms.protocol.endpoints import Endpoint

#: The gateway's clock: report and reply times carry no zone and are China Standard Time.
GATEWAY_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account's credentials. The password never appears in ``repr``.

    :param corp_id: the account id.
    :param corp_pwd: the account password.
    :param corp_service: the service (business) code used for sends.
    :param user_id: the user id of pull calls; defaults to ``corp_id``.
    """

    corp_id: str
    corp_pwd: str = field(repr=False)
    corp_service: str = ""
    user_id: str = ""

    def __post_init__(self) -> None:
        if not self.user_id:
            object.__setattr__(self, "user_id", self.corp_id)


@dataclass(frozen=True, slots=True)
class PersonalizedItem:
    """One message of a personalized batch.

    :param mobile: the destination number (11 digits).
    :param msg_id: the caller's id for this message; reports carry it back.
    :param content: the text.
    :param ext: digits appended to the channel number; may be empty.
    """

    mobile: str
    msg_id: str
    content: str
    ext: str = ""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the gateway said of one send request.

    :param endpoint: the send endpoint.
    :param submitted: messages (numbers or items) in the request.
    :param accepted: the ``N`` of ``0#N``.
    :param corp_msg_id: the same-content send's corp_msg_id (empty for personalized sends).
    """

    endpoint: Endpoint
    submitted: int
    accepted: int
    corp_msg_id: str = ""

    @property
    def dropped(self) -> int:
        """Messages the gateway dropped silently (invalid numbers are not named, only not counted).

        A personalized reply counts segments where the channel splits long messages, so
        ``accepted`` may exceed ``submitted``; nothing is dropped then.
        """
        return max(self.submitted - self.accepted, 0)

    @property
    def all_failed(self) -> bool:
        """``0#0``: the gateway accepted nothing of this request."""
        return self.accepted == 0


@dataclass(frozen=True, slots=True)
class Report:
    """A delivery report.

    :param mobile: the number the message went to.
    :param msg_id: the corp_msg_id / item msg_id it was sent with.
    :param sub_seq: 0 for a whole message, k for the k-th segment of a long one.
    :param err: the status code; ``0`` / ``000`` mean delivered.
    :param fail_desc: the gateway's description of a failure.
    :param report_time: when the carrier reported, in China time; None if unreadable.
    :param corp_id: the account.
    """

    mobile: str
    msg_id: str
    sub_seq: int = 0
    err: str = "0"
    fail_desc: str = ""
    report_time: datetime | None = None
    corp_id: str = ""

    @property
    def delivered(self) -> bool:
        return is_delivered_code(self.err)


@dataclass(frozen=True, slots=True)
class Reply:
    """An inbound message (MO) a recipient sent back.

    :param mobile: the sender's number.
    :param content: the text.
    :param ext: the ext the original send carried, which matches the reply to it.
    :param time: when it was received, in China time; None if unreadable.
    :param corp_id: the account.
    """

    mobile: str
    content: str
    ext: str = ""
    time: datetime | None = None
    corp_id: str = ""


def is_delivered_code(err: str) -> bool:
    """``0`` and ``000`` (any run of zeros) mean delivered; anything else is a failure code."""
    err = err.strip()
    return bool(err) and err.strip("0") == ""


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y%m%d%H%M%S")


def parse_gateway_time(text: str) -> datetime | None:
    """Parse a gateway timestamp (China time, no zone) into an aware datetime."""
    text = text.strip()
    if not text:
        return None
    try:  # the documented form, and ISO variants, without strptime's cost
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=GATEWAY_TZ)
    for fmt in _TIME_FORMATS[2:]:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=GATEWAY_TZ)
        except ValueError:
            continue
    return None


def format_gateway_time(value: datetime | None) -> str:
    """The gateway's timestamp form of ``value`` (converted to China time)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(GATEWAY_TZ)
    return value.strftime("%Y-%m-%d %H:%M:%S")
