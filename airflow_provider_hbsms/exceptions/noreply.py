"""No usable reply: each class says whether the request reached the gateway, hence what a
retry may do."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow_provider_hbsms.exceptions.base import HbSmsError
from airflow_provider_hbsms.exceptions.redaction import redact


class NoReplyError(HbSmsError):
    """No usable reply came back; the subclass says whether the request reached the gateway,
    hence what a retry may do.

    :param endpoint: the endpoint called (an ``Endpoint``, whose value is its path).
    :param reason: what failed.
    """

    what = "no reply"

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = redact(reason)
        super().__init__(f"{endpoint}: {self.what}: {self.reason}")


class RequestNotSentError(NoReplyError):
    """The request never reached the gateway (refused, unreachable, DNS, connect timeout):
    nothing was processed, so any retry is safe."""

    what = "request not delivered"


class BalanceReplyLostError(NoReplyError):
    """A balance query left but its reply was lost; a balance query changes nothing, so it is
    safe to ask again."""


class SendOutcomeUnknownError(NoReplyError):
    """A send left this machine but no usable reply came back: it may have been accepted.

    Never retried automatically: repeating it could text every recipient twice. Resend only
    under the same msg_id (a campaign's ledger does so with ``resend_unknown=True``).

    :param endpoint: the send endpoint.
    :param reason: what went wrong after the request left.
    :param submitted: how many messages the request carried.
    """

    def __init__(self, endpoint: str, reason: str, submitted: int) -> None:
        self.endpoint = endpoint
        self.reason = redact(reason)
        self.submitted = submitted
        HbSmsError.__init__(
            self,
            f"{endpoint}: outcome unknown for {submitted} message(s), "
            f"the gateway may have accepted them: {self.reason}",
        )


class PullReplyLostError(NoReplyError):
    """A pull left but its reply never arrived whole: the page is gone from the gateway's queue.

    The gateway hands each page of reports (up to 100) or replies (up to 10) over once and
    removes it as it answers; a page lost on the way (read timeout, reset, deadline, an error
    status after the request left) cannot be pulled again. What is still queued arrives on the
    next pull (or by push); the lost page can only be recovered from the gateway's history, by
    asking the vendor for the account's reports or replies around ``lost_at``.

    :param endpoint: the pull endpoint.
    :param reason: what failed after the request left.
    :param lost_at: when (UTC); now by default.
    :param corp_id: the account, for the message.
    """

    def __init__(
        self, endpoint: str, reason: str, lost_at: datetime | None = None, corp_id: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.reason = redact(reason)
        self.lost_at = lost_at or datetime.now(UTC).replace(microsecond=0)
        self.corp_id = corp_id
        kind = "replies" if endpoint == "/post_deliverMsg.do" else "reports"
        account = f" of account {corp_id}" if corp_id else ""
        HbSmsError.__init__(
            self,
            f"{endpoint}: pull reply lost at {self.lost_at.isoformat()} "
            f"({self.reason}): the gateway hands a page of {kind} over once, so the page it "
            f"sent{account} is gone from its queue. {kind.capitalize()} still queued come with "
            f"the next pull (or by push, if the account pushes); ask the vendor for the "
            f"account's {kind} history around that time to recover the lost page.",
        )
