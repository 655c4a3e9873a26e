"""Every exception a caller of this provider can meet, named for what went wrong and for what a
retry may do.

::

    HbSmsError
    ├── HbSmsValidationError (ValueError)   input broke a protocol rule; nothing was sent
    │   └── InvalidFieldError                 one field broke one rule
    ├── InputFileError (ValueError)         a campaign's input file cannot be read
    ├── XmlBodyError (ValueError)           a report or reply body cannot be accepted
    │   ├── UnsafeXmlError                    it declares a DTD or entities
    │   └── MalformedXmlError                 it is not XML of the expected shape
    ├── GatewayError                        the gateway answered with an error code
    │   ├── InsufficientBalanceError, AccountClosedError, AuthenticationError,
    │   │   IpNotAllowedError, ServiceUnavailableError, PullNotEnabledError,
    │   │   EndpointNotFoundError             the account or the address: fix, then retry
    │   ├── RateLimitedError                  called too soon: retry after 200 ms
    │   ├── InvalidRequestError               the request's content; nothing was accepted
    │   │   └── InvalidContentError, InvalidMobileError, InvalidMsgIdError, InvalidExtError,
    │   │       MethodNotAllowedError, TotalCountMismatchError, TooManyItemsError
    │   └── UnexpectedReplyError              a reply of no documented form
    │       └── ReplyTooLargeError              over the bytes or items the client reads
    ├── NoReplyError                        no usable reply: the subclass says what a retry may do
    │   ├── RequestNotSentError               nothing reached the gateway: any retry is safe
    │   ├── BalanceReplyLostError             a balance reply was lost: safe to ask again
    │   ├── SendOutcomeUnknownError           a send may have been accepted: resend only by
    │   │                                     the same msg_id
    │   └── PullReplyLostError                a pulled page was lost: it cannot be pulled again
    ├── PushOnlyAccountError                collection asked of an account that pushes
    ├── StalePullsError                     no pull succeeded for too long
    ├── WaitFailedError                     a wait failed more checks in a row than it allows
    ├── LedgerStateError (ValueError)       a move the send ledger's states do not allow (a bug)
    └── CampaignError                       a campaign could not be (fully) sent
        ├── UnsettledBatchesError             batches whose outcome is unknown, not resent
        └── StoreUnavailableError             the send ledger could not be reached

The package imports nothing from the rest of the provider, so every layer (the sans-I/O
protocol too) can raise these; import them from here or from the package root. Text that may
echo a request passes through ``redact``: no request form and no password field reaches an
exception's message. Every exception pickles with all its fields (Airflow carries exceptions
across processes).
"""

from airflow_provider_hbsms.exceptions.base import HbSmsError
from airflow_provider_hbsms.exceptions.gateway import (
    AccountClosedError,
    AuthenticationError,
    EndpointNotFoundError,
    GatewayError,
    InsufficientBalanceError,
    InvalidContentError,
    InvalidExtError,
    InvalidMobileError,
    InvalidMsgIdError,
    InvalidRequestError,
    IpNotAllowedError,
    MethodNotAllowedError,
    PullNotEnabledError,
    RateLimitedError,
    ReplyTooLargeError,
    ServiceUnavailableError,
    TooManyItemsError,
    TotalCountMismatchError,
    UnexpectedReplyError,
)
from airflow_provider_hbsms.exceptions.inputs import (
    HbSmsValidationError,
    InputFileError,
    InvalidFieldError,
    MalformedXmlError,
    UnsafeXmlError,
    ValidationProblem,
    XmlBodyError,
)
from airflow_provider_hbsms.exceptions.noreply import (
    BalanceReplyLostError,
    NoReplyError,
    PullReplyLostError,
    RequestNotSentError,
    SendOutcomeUnknownError,
)
from airflow_provider_hbsms.exceptions.redaction import excerpt, redact
from airflow_provider_hbsms.exceptions.tasks import (
    CampaignError,
    LedgerStateError,
    PushOnlyAccountError,
    StalePullsError,
    StoreUnavailableError,
    UnsettledBatchesError,
    WaitFailedError,
)

__all__ = [
    "AccountClosedError",
    "AuthenticationError",
    "BalanceReplyLostError",
    "CampaignError",
    "EndpointNotFoundError",
    "GatewayError",
    "HbSmsError",
    "HbSmsValidationError",
    "InputFileError",
    "InsufficientBalanceError",
    "InvalidContentError",
    "InvalidExtError",
    "InvalidFieldError",
    "InvalidMobileError",
    "InvalidMsgIdError",
    "InvalidRequestError",
    "IpNotAllowedError",
    "LedgerStateError",
    "MalformedXmlError",
    "MethodNotAllowedError",
    "NoReplyError",
    "PullNotEnabledError",
    "PullReplyLostError",
    "PushOnlyAccountError",
    "RateLimitedError",
    "ReplyTooLargeError",
    "RequestNotSentError",
    "SendOutcomeUnknownError",
    "ServiceUnavailableError",
    "StalePullsError",
    "StoreUnavailableError",
    "TooManyItemsError",
    "TotalCountMismatchError",
    "UnexpectedReplyError",
    "UnsafeXmlError",
    "UnsettledBatchesError",
    "ValidationProblem",
    "WaitFailedError",
    "XmlBodyError",
    "excerpt",
    "redact",
]
