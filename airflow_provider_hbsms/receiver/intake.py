"""What the receiver does with a push, without any web framework: check the caller, parse the
body, store it durably. The ASGI layer (``asgi.py``) only moves bytes in and out.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol.endpoints import MAX_REPLIES_PER_BODY, MAX_REPORTS_PER_BODY
from airflow_provider_hbsms.protocol.xmlcodec import (
    MalformedXmlError,
    UnsafeXmlError,
    parse_replies,
    parse_reports,
)
from airflow_provider_hbsms.receiver.limits import ReceiverLimits
from airflow_provider_hbsms.store.replies import DEFAULT_OPT_OUT_KEYWORDS
from airflow_provider_hbsms.store.sent import expand_pending

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.protocol.models import Reply, Report
    from airflow_provider_hbsms.store import Store

log = logging.getLogger(__name__)

ACCEPTED, REFUSED = "0", "9"
DEFAULT_MAX_BODY = 1024 * 1024
KINDS = ("reports", "replies")


@dataclass
class ReceiverSettings:
    """How the receiver runs.

    :param token: the secret path segment the gateway's URL must carry; empty refuses all.
    :param store_factory: returns the store to write to (called once, lazily).
    :param allowed_ips: IPs or networks allowed to push; empty allows any.
    :param max_body: largest body accepted, in bytes.
    :param opt_out_keywords: replies that put their sender on the opt-out list.
    :param trusted_proxies: IPs or networks of reverse proxies whose ``X-Forwarded-For`` is
        believed (see ``access.py``); empty ignores the header.
    :param limits: time and connection limits (``limits.py``).
    """

    token: str
    store_factory: Callable[[], Store]
    allowed_ips: list[str] = field(default_factory=list)
    max_body: int = DEFAULT_MAX_BODY
    opt_out_keywords: frozenset[str] = DEFAULT_OPT_OUT_KEYWORDS
    trusted_proxies: list[str] = field(default_factory=list)
    limits: ReceiverLimits = field(default_factory=ReceiverLimits)


class Refused(Exception):
    """A push the receiver does not accept; the gateway gets a non-``0`` answer.

    :param status: the HTTP status to answer with.
    :param reason: why, for the log.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class PushIntake:
    """Checks callers and stores pushed bodies.

    :param settings: how the receiver runs.
    """

    def __init__(self, settings: ReceiverSettings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._opening = threading.Lock()
        # SQLite takes one writer at a time and makes the others sleep-and-retry (with growing
        # sleeps): queueing writers on a lock here is much faster and keeps latency even.
        self._write_lock = threading.Lock()

    def store(self) -> Store:
        with self._opening:
            if self._store is None:
                self._store = self.settings.store_factory()
            return self._store

    def writes_one_at_a_time(self) -> bool:
        """The store takes one writer at a time (SQLite), so pushes are stored in turn."""
        return self.store().engine.dialect.name == "sqlite"

    def ingest(self, kind: str, body: bytes) -> int:
        """Parse and commit a body; the count of new items.

        :raises Refused: the body cannot be accepted (it is kept as a dead letter).
        """
        reports: list[Report] = []
        replies: list[Reply] = []
        try:
            if kind == "reports":
                reports = parse_reports(body)
                limit = MAX_REPORTS_PER_BODY
            else:
                replies = parse_replies(body)
                limit = MAX_REPLIES_PER_BODY
        except UnsafeXmlError as exc:
            # Kept unparsed (never expanded), like any body that cannot be read.
            self.store().keep_dead_letter(kind, "push", body, f"unsafe XML: {exc}")
            raise Refused(400, f"unsafe XML: {exc}") from None
        except MalformedXmlError as exc:
            self.store().keep_dead_letter(kind, "push", body, str(exc))
            raise Refused(400, f"malformed: {exc}") from None
        count = len(reports) + len(replies)
        if count > limit:
            log.warning("push of %d %s (the protocol says at most %d): stored", count, kind, limit)
        target = self.store()
        if kind == "replies":
            # Attribution needs the sent messages indexed. Index any backlog first, outside
            # the write lock and a committed page at a time, so that report pushes stored
            # meanwhile wait for a page at most, not for a whole campaign.
            expand_pending(target.engine)
        with self._write_lock if self.writes_one_at_a_time() else contextlib.nullcontext():
            if kind == "reports":
                return target.reports.add(reports, source="push")
            keywords = self.settings.opt_out_keywords
            return target.replies.add(replies, source="push", opt_out_keywords=keywords).new
