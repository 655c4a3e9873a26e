"""The exception hierarchy: every failure a caller can meet, named for what went wrong.

``HbSmsError`` is the root. ``GatewayError`` and its subclasses are documented reply codes;
``HbSmsValidationError`` is input refused before anything was sent; ``TransportError`` means
no usable reply (for sends: nothing reached the gateway); ``SendOutcomeUnknownError`` means a
send may or may not have been accepted and must not be repeated blindly;
``PullReplyLostError`` means a pulled page was handed over and lost on the way. Messages pass
through ``redact``: no request form and no password field reaches an exception's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_hbsms.protocol.endpoints import Endpoint


class HbSmsError(Exception):
    """Root of every error raised by this provider."""


# ---------------------------------------------------------------- redaction

# A field whose name says it holds a secret, as a gateway or proxy may echo it: in a form
# (``corp_pwd=...``, ``corp%5Fpwd%3D...``), JSON (``"corp_pwd": "..."``) or XML
# (``<corp_pwd>...``). The name is what is matched, never the value: a fragment of a
# percent-encoded password looks like anything else.
_NAME_CHAR = r"(?:[A-Za-z0-9_.\-]|%5[Ff])"
_SECRET_FIELD = re.compile(
    rf"(?P<name>{_NAME_CHAR}*(?:pwd|passw(?:or)?d|secret|token){_NAME_CHAR}*)"
    r"(?P<sep>[\"']?\s*(?:=|%3[Dd]|:|>)\s*)"
    r"(?P<value>\"[^\"]*\"?|'[^']*'?|[^&\s\"'<>,;)]*)",
    re.IGNORECASE,
)
_SECRET_ELEMENT = re.compile(
    rf"<(?P<name>{_NAME_CHAR}*(?:pwd|passw(?:or)?d|secret|token){_NAME_CHAR}*)>[^<]*",
    re.IGNORECASE,
)
# A run of two or more ``name=value`` pairs joined by ``&`` (raw or percent-encoded): the echo
# of a request form, which carries the account, numbers and texts. Taken out whole: even its
# field names may be pieces of a password that held ``&`` or ``=``.
_FORM_RUN = re.compile(
    r"[A-Za-z_%][A-Za-z0-9_%.\-]*(?:=|%3[Dd])[^&\s<>\"']*"
    r"(?:(?:&|%26)(?:amp;)?[^&=\s<>\"']*(?:=|%3[Dd])[^&\s<>\"']*)+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with request forms and secret fields taken out, for messages and logs.

    An echoed request form becomes ``<request form removed>``; any other field named like a
    password keeps its name and loses its value (``corp_pwd=***``).

    :param text: a reply excerpt, an exception message, a reason phrase.
    """
    if not text:
        return text

    text = _FORM_RUN.sub("<request form removed>", text)
    text = _SECRET_ELEMENT.sub(lambda m: f"<{m.group('name')}>***", text)
    return _SECRET_FIELD.sub(
        lambda m: f"{m.group('name')}{m.group('sep')}***" if m.group("value") else m.group(0),
        text,
    )


def excerpt(text: str, limit: int = 80) -> str:
    """A redacted excerpt of at most ``limit`` characters (redacted first, then cut, so a cut
    never leaves half a field name in front of its value).

    :param text: the text.
    :param limit: the longest excerpt.
    """
    shown = redact(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# ---------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class ValidationProblem:
    """One rule one input broke.

    :param field: the field that broke it (``mobile``, ``content``, ``msg_id``, ``ext``, ...).
    :param rule: the rule, in words.
    :param value: the offending value, shortened for display.
    :param row: the input row (0-based position in the caller's input), when known.
    """

    field: str
    rule: str
    value: str = ""
    row: int | None = None

    def describe(self) -> str:
        where = f"row {self.row}: " if self.row is not None else ""
        shown = f" (got {self.value!r})" if self.value else ""
        return f"{where}{self.field}: {self.rule}{shown}"

    def at_row(self, row: int) -> ValidationProblem:
        return ValidationProblem(self.field, self.rule, self.value, row)


class HbSmsValidationError(HbSmsError, ValueError):
    """Input broke a protocol rule; nothing was sent.

    :param problems: what was wrong, row by row.
    :param total: how many problems there were in all (``problems`` may hold only the first ones).
    """

    MAX_LISTED = 10

    def __init__(self, problems: Sequence[ValidationProblem], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        super().__init__(self._message())

    def _message(self) -> str:
        listed = self.problems[: self.MAX_LISTED]
        lines = "; ".join(p.describe() for p in listed)
        more = self.total - len(listed)
        suffix = f"; and {more} more" if more > 0 else ""
        return f"{self.total} invalid input(s), nothing sent: {lines}{suffix}"


class InvalidFieldError(HbSmsValidationError):
    """One field broke one rule.

    :param field: the field.
    :param rule: the rule, in words.
    :param value: the offending value.
    """

    def __init__(self, field: str, rule: str, value: object = "") -> None:
        shown = str(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        self.problem = ValidationProblem(field, rule, shown)
        super().__init__([self.problem])


# ---------------------------------------------------------------- gateway replies


class GatewayError(HbSmsError):
    """The gateway answered with a documented error code.

    :param code: the code as the gateway sent it (``"107"``, ``"-19"``).
    :param meaning: the documented meaning.
    :param endpoint: the endpoint that answered.
    :param retryable: whether trying the same call again later can help.
    """

    retryable_default = False

    def __init__(
        self, code: str, meaning: str, endpoint: Endpoint, retryable: bool | None = None
    ) -> None:
        self.code = redact(code)
        self.meaning = redact(meaning)
        self.endpoint = endpoint
        self.retryable = self.retryable_default if retryable is None else retryable
        super().__init__(f"{endpoint.path} replied {self.code}: {self.meaning}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.meaning, self.endpoint, self.retryable))


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
    """The reply matches no documented form (an HTML error page, a truncated body, ...).

    ``body`` holds the raw reply of a pull whose XML could not be read, so that data the
    gateway handed over once can still be saved.
    """

    body: bytes = b""


class ReplyTooLargeError(UnexpectedReplyError):
    """The reply was longer than the client reads (``max_reply_bytes``), or a pull reply held
    more items than the protocol allows (100 reports, 10 replies). For a pull, ``body`` holds
    what was read, so it can be kept as a dead letter."""


# ---------------------------------------------------------------- transport


class TransportError(HbSmsError):
    """No usable reply: the request could not be delivered (``sent=False``: the gateway did not
    process it), or, for a balance query, it left and its reply was lost (``sent=True``; a
    balance query changes nothing, so it is safe to repeat).

    Sends whose reply was lost raise ``SendOutcomeUnknownError`` instead, and pulls
    ``PullReplyLostError``.

    :param endpoint: the endpoint called.
    :param reason: what failed.
    :param sent: the request may have reached the gateway.
    """

    def __init__(self, endpoint: Endpoint, reason: str, sent: bool = False) -> None:
        self.endpoint = endpoint
        self.reason = redact(reason)
        self.sent = sent
        what = "no reply" if sent else "request not delivered"
        super().__init__(f"{endpoint.path}: {what}: {self.reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.reason, self.sent))


class PullReplyLostError(HbSmsError):
    """A pull left but its reply never arrived whole: the page is gone from the gateway's queue.

    The gateway hands each page of reports (up to 100) or replies (up to 10) over once and
    removes it as it answers. A reply lost on the way (read timeout, reset, deadline, an error
    status after the request left) cannot be pulled again. What is still queued arrives on the
    next pull (or by push, for an account that pushes); the lost page can only be recovered from
    the gateway's history, by asking the vendor for the account's reports or replies around
    ``lost_at``.

    :param endpoint: the pull endpoint.
    :param reason: what failed after the request left.
    :param lost_at: when (UTC); now by default.
    :param corp_id: the account, for the message.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        reason: str,
        lost_at: datetime | None = None,
        corp_id: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.reason = redact(reason)
        self.lost_at = lost_at or datetime.now(UTC).replace(microsecond=0)
        self.corp_id = corp_id
        kind = "replies" if endpoint.path == "/post_deliverMsg.do" else "reports"
        account = f" of account {corp_id}" if corp_id else ""
        super().__init__(
            f"{endpoint.path}: pull reply lost at {self.lost_at.isoformat()} "
            f"({self.reason}): the gateway hands a page of {kind} over once, so the page it "
            f"sent{account} is gone from its queue. {kind.capitalize()} still queued come with "
            f"the next pull (or by push, if the account pushes); ask the vendor for the "
            f"account's {kind} history around that time to recover the lost page."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.reason, self.lost_at, self.corp_id))


class SendOutcomeUnknownError(HbSmsError):
    """A send left this machine but no usable reply came back: it may have been accepted.

    Never retried automatically: repeating it could text every recipient twice.

    :param endpoint: the send endpoint.
    :param reason: what went wrong after the request left.
    :param submitted: how many messages the request carried.
    """

    def __init__(self, endpoint: Endpoint, reason: str, submitted: int) -> None:
        self.endpoint = endpoint
        self.reason = redact(reason)
        self.submitted = submitted
        super().__init__(
            f"{endpoint.path}: outcome unknown for {submitted} message(s), "
            f"the gateway may have accepted them: {self.reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.reason, self.submitted))
