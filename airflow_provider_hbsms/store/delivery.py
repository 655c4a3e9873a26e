"""Where sent messages stand: the folded statuses and a campaign's delivery summary, as every
reader of the store gives them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DELIVERED, FAILED, PENDING = "delivered", "failed", "pending"


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """Where one sent message stands, its segments folded.

    :param msg_id: the message id.
    :param mobile: the number.
    :param status: ``delivered`` (every segment delivered), ``failed`` (any segment failed)
        or ``pending``.
    :param err: the first failing segment's code (failed only).
    :param fail_desc: its description.
    :param segments: segments expected.
    :param reported: segment reports received.
    :param campaign_key: the campaign that sent it.
    """

    msg_id: str
    mobile: str
    status: str
    err: str = ""
    fail_desc: str = ""
    segments: int = 1
    reported: int = 0
    campaign_key: str = ""


@dataclass(frozen=True)
class DeliverySummary:
    """Delivery of a set of messages.

    :param total: messages.
    :param delivered: delivered messages.
    :param failed: failed messages.
    :param pending: messages without a final status yet.
    :param failed_by_reason: failed messages by ``err`` (``err fail_desc``).
    """

    total: int
    delivered: int
    failed: int
    pending: int
    failed_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def delivered_fraction(self) -> float:
        return self.delivered / self.total if self.total else 0.0

    @property
    def is_final(self) -> bool:
        """Every message has a final status (and there is at least one)."""
        return self.total > 0 and self.pending == 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["delivered_fraction"] = round(self.delivered_fraction, 6)
        data["is_final"] = self.is_final
        return data
