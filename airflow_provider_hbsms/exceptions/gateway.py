"""What the gateway answered instead of a success: its error codes, or a reply of no
documented form."""

from __future__ import annotations

from airflow_provider_hbsms.exceptions.base import HbSmsError
from airflow_provider_hbsms.exceptions.redaction import excerpt, redact


class GatewayError(HbSmsError):
    """The gateway answered with an error code (documented, save ``UnexpectedReplyError``).

    :param code: the code as the gateway sent it (``"107"``, ``"-19"``).
    :param meaning: the documented meaning.
    :param endpoint: the endpoint that answered (an ``Endpoint``, whose value is its path).
    :param retryable: whether trying the same call again later can help.
    """

    retryable_default = False

    def __init__(
        self, code: str, meaning: str, endpoint: str, retryable: bool | None = None
    ) -> None:
        self.code = redact(code)
        self.meaning = redact(meaning)
        self.endpoint = endpoint
        self.retryable = self.retryable_default if retryable is None else retryable
        super().__init__(f"{endpoint} replied {self.code}: {self.meaning}")


class InsufficientBalanceError(GatewayError):
    """``100``: the account's balance does not cover the send."""


class AccountClosedError(GatewayError):
    """``101`` / ``-11``: the account is closed."""


class AuthenticationError(GatewayError):
    """``106`` / ``107`` / ``-16`` / ``-17``: unknown account or wrong password."""


class IpNotAllowedError(GatewayError):
    """``108``: this machine's IP address is not bound to the account."""


class ServiceUnavailableError(GatewayError):
    """``109``: the service (business) code is unknown or its channel is closed."""


class InvalidRequestError(GatewayError):
    """The gateway refused the request's content; nothing of it was accepted."""


class InvalidContentError(InvalidRequestError):
    """``102``: content empty or over 1000 characters."""


class InvalidMobileError(InvalidRequestError):
    """``103``: over 200 numbers, no valid number, or numbers that don't match the channel."""


class InvalidMsgIdError(InvalidRequestError):
    """``104`` on a send: corp_msg_id over 50 characters or missing."""


class InvalidExtError(InvalidRequestError):
    """``110``: the ext is not valid."""


class MethodNotAllowedError(InvalidRequestError):
    """``114``: the personalized send was not a POST."""


class TotalCountMismatchError(InvalidRequestError):
    """``115``: total_count differs from the items found; the whole request was discarded."""


class TooManyItemsError(InvalidRequestError):
    """``116``: over 200 items in one personalized request."""


class RateLimitedError(GatewayError):
    """``104`` on balance / ``-19`` on pulls: called within 200 ms of the previous call."""

    retryable_default = True


class PullNotEnabledError(GatewayError):
    """``-18``: pulling is not enabled for this account; use the push receiver instead."""


class EndpointNotFoundError(GatewayError):
    """``9``: no such address; the base URL or path is wrong."""


class UnexpectedReplyError(GatewayError):
    """The reply matches no documented form (an HTML error page, a truncated body, unreadable
    XML, ...); ``code`` is empty.

    :param endpoint: the endpoint that answered.
    :param meaning: what is wrong with the reply.
    :param reply: the reply's text, as far as it can be shown (redacted).
    :param body: the raw reply of a pull, so that data the gateway handed over once can still
        be saved.
    """

    def __init__(self, endpoint: str, meaning: str, reply: str = "", body: bytes = b"") -> None:
        self.code = ""
        self.meaning = redact(meaning)
        self.endpoint = endpoint
        self.retryable = self.retryable_default
        self.reply = excerpt(reply)
        self.body = body
        said = f" replied {self.reply}" if self.reply else ""
        HbSmsError.__init__(self, f"{endpoint}{said}: {self.meaning}")


class ReplyTooLargeError(UnexpectedReplyError):
    """The reply was longer than the client reads (``max_reply_bytes``), or a pull reply held
    more items than the protocol allows (100 reports, 10 replies). For a pull, ``body`` holds
    what was read, so it can be kept as a dead letter."""
