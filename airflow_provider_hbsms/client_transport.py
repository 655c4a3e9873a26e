"""The client's side of the transport seam: which transport a base URL gets, and what a failed
POST means for each endpoint, as the package's typed errors.

A request that never left is ``RequestNotSentError`` whatever the endpoint. One that may have
left is ``SendOutcomeUnknownError`` for a send (it may have been accepted),
``BalanceReplyLostError`` for balance (read-only: safe to ask again) and
``PullReplyLostError`` for a pull (the page was handed over once and is gone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_hbsms.exceptions import (
    BalanceReplyLostError,
    HbSmsError,
    PullReplyLostError,
    ReplyTooLargeError,
    RequestNotSentError,
    SendOutcomeUnknownError,
)
from airflow_provider_hbsms.protocol.endpoints import Endpoint
from airflow_provider_hbsms.transport import NotSent, TooLarge

if TYPE_CHECKING:
    from airflow_provider_hbsms.transport import MaybeSent, Transport, TransportLimits


def open_transport(
    base_url: str, limits: TransportLimits, *, verify: bool | str = True
) -> Transport:
    """The default transport for ``base_url``: plain HTTP without a proxy goes straight through
    ``http.client`` (about half the CPU of a request through requests' adapter), TLS and
    proxies set in the environment through requests.

    :param base_url: scheme, host, port and an optional path prefix.
    :param verify: verify TLS certificates (or a CA bundle path).
    :param limits: timeouts, deadline, reply cap and pool settings.
    """
    # Imported here: a client given its own transport never loads requests.
    from airflow_provider_hbsms.plain_transport import PlainTransport
    from airflow_provider_hbsms.requests_transport import RequestsTransport, environ_proxies

    proxies = environ_proxies(base_url)
    parts = urlsplit(base_url)
    if parts.scheme == "http" and parts.hostname and not proxies:
        return PlainTransport(base_url, limits)
    return RequestsTransport(base_url, limits, verify=verify, proxies=proxies)


def failure_of(
    endpoint: Endpoint, exc: NotSent | MaybeSent, submitted: int, corp_id: str
) -> HbSmsError:
    """The typed error for a transport failure of a request to ``endpoint``.

    :param endpoint: the endpoint called.
    :param exc: what the transport raised.
    :param submitted: messages the request carried (sends).
    :param corp_id: the account, for a lost pull's message.
    """
    if isinstance(exc, NotSent):
        return RequestNotSentError(endpoint, str(exc))
    if isinstance(exc, TooLarge) and not endpoint.is_send:
        # For a pull, what was handed over is kept for a dead letter.
        head = b"" if endpoint is Endpoint.BALANCE else exc.head
        return ReplyTooLargeError(endpoint, str(exc), body=head)
    return reply_lost(endpoint, str(exc), submitted, corp_id)


def reply_lost(endpoint: Endpoint, reason: str, submitted: int, corp_id: str) -> HbSmsError:
    """The typed error for a request that may have reached the gateway without a usable reply.

    :param endpoint: the endpoint called.
    :param reason: what failed after the request left.
    :param submitted: messages the request carried (sends).
    :param corp_id: the account, for a lost pull's message.
    """
    if endpoint.is_send:
        return SendOutcomeUnknownError(endpoint, reason, submitted)
    if endpoint is Endpoint.BALANCE:
        return BalanceReplyLostError(endpoint, reason)
    return PullReplyLostError(endpoint, reason, corp_id=corp_id)
