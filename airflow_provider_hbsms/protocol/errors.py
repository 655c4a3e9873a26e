"""Every documented error code of every endpoint, and the exception each one raises.

The exceptions themselves are in ``airflow_provider_hbsms.exceptions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_hbsms import exceptions as e
from airflow_provider_hbsms.protocol.endpoints import Endpoint


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One documented error code.

    :param code: the reply text.
    :param meaning: its documented meaning.
    :param error: the exception raised for it.
    """

    code: str
    meaning: str
    error: type[e.GatewayError]

    def exception(self, endpoint: Endpoint) -> e.GatewayError:
        return self.error(self.code, self.meaning, endpoint)


def _table(*codes: ErrorCode) -> dict[str, ErrorCode]:
    return {c.code: c for c in codes}


_NOT_FOUND = ErrorCode("9", "no such address", e.EndpointNotFoundError)
_IP = ErrorCode("108", "caller IP address not allowed for this account", e.IpNotAllowedError)
_SEND_ACCOUNT = (
    ErrorCode("100", "balance too low", e.InsufficientBalanceError),
    ErrorCode("101", "account closed", e.AccountClosedError),
    ErrorCode("106", "no such user", e.AuthenticationError),
    ErrorCode("107", "wrong password", e.AuthenticationError),
    _IP,
    ErrorCode("109", "service code unknown or channel closed", e.ServiceUnavailableError),
    _NOT_FOUND,
)
_PULL = _table(
    _NOT_FOUND,
    ErrorCode("-11", "account closed", e.AccountClosedError),
    ErrorCode("-16", "wrong or unknown user name", e.AuthenticationError),
    ErrorCode("-17", "wrong password", e.AuthenticationError),
    ErrorCode("-18", "pulling is not enabled for this account", e.PullNotEnabledError),
    ErrorCode("-19", "called within 200 ms of the previous call", e.RateLimitedError),
    _IP,
)

ERROR_CODES: dict[Endpoint, dict[str, ErrorCode]] = {
    Endpoint.SEND: _table(
        *_SEND_ACCOUNT,
        ErrorCode("102", "content empty or over 1000 characters", e.InvalidContentError),
        ErrorCode(
            "103",
            "over 200 numbers, no valid number, or numbers not matching the channel type",
            e.InvalidMobileError,
        ),
        ErrorCode("104", "corp_msg_id over 50 characters or missing", e.InvalidMsgIdError),
        ErrorCode("110", "ext not valid", e.InvalidExtError),
    ),
    Endpoint.PERSONALIZED_SEND: _table(
        *_SEND_ACCOUNT,
        ErrorCode("114", "request must be a POST", e.MethodNotAllowedError),
        ErrorCode(
            "115",
            "total_count differs from the items sent; the whole request was discarded",
            e.TotalCountMismatchError,
        ),
        ErrorCode("116", "over 200 items in one request", e.TooManyItemsError),
    ),
    Endpoint.BALANCE: _table(
        ErrorCode("101", "account closed", e.AccountClosedError),
        ErrorCode("104", "called within 200 ms of the previous call", e.RateLimitedError),
        ErrorCode("106", "no such user", e.AuthenticationError),
        ErrorCode("107", "wrong password", e.AuthenticationError),
        _IP,
        _NOT_FOUND,
    ),
    Endpoint.PULL_REPORTS: _PULL,
    Endpoint.PULL_REPLIES: _PULL,
}


def error_for(endpoint: Endpoint, code: str) -> e.GatewayError | None:
    """The exception for a documented code of this endpoint, or None if the code is unknown."""
    entry = ERROR_CODES[endpoint].get(code)
    return entry.exception(endpoint) if entry else None
