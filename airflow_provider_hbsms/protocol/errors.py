"""The exception hierarchy: every failure a caller can meet, named for what went wrong.

``HbSmsError`` is the root. ``GatewayError`` and its subclasses are documented reply codes;
``HbSmsValidationError`` is input refused before anything was sent; ``TransportError`` means
nothing reached the gateway; ``SendOutcomeUnknownError`` means a send may or may not have been
accepted and must not be repeated blindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_hbsms.protocol.endpoints import Endpoint


class HbSmsError(Exception):
    """Root of every error raised by this provider."""


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
        self.code = code
        self.meaning = meaning
        self.endpoint = endpoint
        self.retryable = self.retryable_default if retryable is None else retryable
        super().__init__(f"{endpoint.path} replied {code}: {meaning}")

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


# ---------------------------------------------------------------- transport


class TransportError(HbSmsError):
    """The request could not be delivered; the gateway did not process it.

    :param endpoint: the endpoint called.
    :param reason: what failed.
    """

    def __init__(self, endpoint: Endpoint, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"{endpoint.path}: request not delivered: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.reason))


class SendOutcomeUnknownError(HbSmsError):
    """A send left this machine but no usable reply came back: it may have been accepted.

    Never retried automatically: repeating it could text every recipient twice.

    :param endpoint: the send endpoint.
    :param reason: what went wrong after the request left.
    :param submitted: how many messages the request carried.
    """

    def __init__(self, endpoint: Endpoint, reason: str, submitted: int) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.submitted = submitted
        super().__init__(
            f"{endpoint.path}: outcome unknown for {submitted} message(s), "
            f"the gateway may have accepted them: {reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.reason, self.submitted))
