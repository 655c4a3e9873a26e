"""The campaign's store calls, reconnecting a bounded number of times when the store's
connection fails, then failing with ``StoreUnavailableError``."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError

from airflow_provider_hbsms.exceptions import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


def is_store_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the store's connection failed (rather than a statement)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if isinstance(exc.orig, BaseException) else exc
    kind, module = type(exc).__name__, type(exc).__module__.split(".")[0]
    if kind not in ("OperationalError", "InterfaceError"):
        return False
    if module == "sqlite3":  # which also reports bad statements as OperationalError
        return any(s in str(exc) for s in ("locked", "unable to open", "disk I/O", "busy"))
    return module in ("psycopg2", "sqlalchemy")


T = TypeVar("T")

#: Pauses before each reconnect while claiming (about 7 s in all), and while recording what
#: was sent (about 30 s: recording it is what lets a retry skip it).
CLAIM_RECONNECTS = (0.5, 1.0, 2.0, 4.0)
SETTLE_RECONNECTS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


class StoreCalls:
    """Runs the campaign's store calls, reconnecting a bounded number of times when the
    connection fails. Only calls safe to run twice go through here: reads, settlements
    (idempotent) and claims (a claim whose commit was lost is recognised as this try's own).

    :param campaign_key: the campaign, for the error.
    :param store: the store's URL, password hidden.
    """

    def __init__(self, campaign_key: str, store: str) -> None:
        self.campaign_key = campaign_key
        self.store = store

    def run(
        self,
        action: str,
        call: Callable[[], T],
        pauses: Sequence[float] = CLAIM_RECONNECTS,
        unrecorded: Callable[[], Sequence[int]] = lambda: (),
    ) -> T:
        started = time.monotonic()
        for attempt, pause in enumerate([*pauses, None], start=1):
            try:
                return call()
            except Exception as exc:
                if not is_store_outage(exc):
                    raise
                if pause is None:
                    raise StoreUnavailableError(
                        self.campaign_key,
                        action,
                        self.store,
                        type(getattr(exc, "orig", None) or exc).__name__,
                        attempt,
                        time.monotonic() - started,
                        unrecorded(),
                    ) from None
                log.warning(
                    "Campaign %s: the store was unreachable while %s (%s); reconnecting in %.1f s",
                    self.campaign_key,
                    action,
                    type(getattr(exc, "orig", None) or exc).__name__,
                    pause,
                )
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover
