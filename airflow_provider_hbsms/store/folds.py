"""How a message's reports fold into one status, and the counter changes that follow: the rule
every writer of the delivery counters applies (``counters.py``, ``recount.py``)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_hbsms.store.delivery import DELIVERED, FAILED, PENDING
from airflow_provider_hbsms.store.schema import delivery_counts, delivery_state

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy import Connection

#: The counters' kinds (``hbsms_delivery_counts.status``): messages indexed, and folded states.
SENT = "sent"

MessageKey = tuple[str, str]
CounterKey = tuple[str, str, str]  # campaign_key, status, reason


@dataclass(frozen=True, slots=True)
class Fold:
    """A message's folded status, and the reason of a failure."""

    status: str
    reason: str = ""


DELIVERED_FOLD, PENDING_FOLD = Fold(DELIVERED), Fold(PENDING)



def reason_text(err: str, fail_desc: str) -> str:
    """How a failure is named in a summary: ``err fail_desc``, or ``unknown``."""
    return " ".join(p for p in (err, fail_desc) if p).strip() or "unknown"



def reason_key(reason: str) -> str:
    return hashlib.sha256(reason.encode()).hexdigest()[:16] if reason else ""



def fold(segments: int, rows: Iterable[tuple[int, int, str, str]]) -> Fold:
    """One message's status from its reports, each ``(sub_seq, delivered, err, fail_desc)``:
    the rule ``ReportStore`` folds by."""
    first_failure: tuple[int, int, str, str] | None = None
    whole_ok = False
    parts: set[int] = set()
    for row in rows:
        sub_seq, delivered = row[0], row[1]
        if not delivered:
            if first_failure is None or sub_seq < first_failure[0]:
                first_failure = row
        elif sub_seq == 0:
            whole_ok = True
        else:
            parts.add(sub_seq)
    if first_failure is not None:
        return Fold(FAILED, reason_text(first_failure[2], first_failure[3]))
    if whole_ok or (parts and len(parts) >= segments):
        return DELIVERED_FOLD
    return PENDING_FOLD



class Deltas:
    """Counter changes gathered in one transaction, written at its end in key order (so two
    transactions never wait on each other's counter rows in opposite orders)."""

    def __init__(self) -> None:
        self.changes: dict[CounterKey, int] = defaultdict(int)

    def add(self, campaign_key: str, status: str, reason: str, n: int) -> None:
        if status != PENDING and n:
            self.changes[(campaign_key, status, reason)] += n

    def move(self, campaign_key: str, old: Fold, new: Fold) -> None:
        if old != new:
            self.add(campaign_key, old.status, old.reason, -1)
            self.add(campaign_key, new.status, new.reason, 1)

    def write(self, conn: Connection) -> None:
        rows = [(c, s, reason_key(r), r, n) for (c, s, r), n in sorted(self.changes.items()) if n]
        if not rows:
            return
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO {delivery_counts.name} (campaign_key, status, reason_key, reason, n) "
            f"VALUES ({', '.join([mark] * 5)}) "
            "ON CONFLICT (campaign_key, status, reason_key) "
            f"DO UPDATE SET n = {delivery_counts.name}.n + excluded.n",
            rows,
        )



def save_states(conn: Connection, rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    if not rows:
        return
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO {delivery_state.name} (msg_id, mobile, campaign_key, status, reason) "
        f"VALUES ({', '.join([mark] * 5)}) ON CONFLICT (msg_id, mobile) DO UPDATE SET "
        "status = excluded.status, reason = excluded.reason",
        list(rows),
    )

