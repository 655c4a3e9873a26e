"""Inbound replies: stored once each, attributed to the message they answer, opt-outs applied."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.protocol.xmlbuild import reply_fragment
from airflow_provider_hbsms.protocol.xmlcodec import fragment_of
from airflow_provider_hbsms.store.checks import Unstorable, one_by_one, too_long, utc
from airflow_provider_hbsms.store.migrations import limits_of
from airflow_provider_hbsms.store.optouts import OptOutList
from airflow_provider_hbsms.store.schema import replies, sent_messages
from airflow_provider_hbsms.store.sent import expand, expand_pending
from airflow_provider_hbsms.store.times import as_utc
from airflow_provider_hbsms.store.upsert import insert_ignore

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from xml.etree.ElementTree import Element

    from sqlalchemy import Connection, Engine

    from airflow_provider_hbsms.protocol.models import Reply

#: Replies that mean "stop texting me" (compared trimmed, case- and width-insensitively).
DEFAULT_OPT_OUT_KEYWORDS = frozenset({"退订", "TD", "T", "N"})
_TRAILING = " \t\r\n.。!！,，;；"
#: How far a reply's gateway time may lag our clock when matching it to the message it answers.
ATTRIBUTION_CLOCK_SKEW = timedelta(minutes=5)


def normalize_keyword(text: str) -> str:
    """Full-width to half-width, trimmed (with trailing punctuation), upper case."""
    return unicodedata.normalize("NFKC", text).strip(_TRAILING).upper()


def _fragment(entry: tuple[Reply, Element | None]) -> str:
    reply, node = entry
    return fragment_of(node) if node is not None else reply_fragment(reply)


def reply_key(reply: Reply) -> str:
    """Identity of a reply: mobile + ext + time + content."""
    when = reply.time.isoformat() if reply.time else ""
    text = "\x1f".join((reply.mobile, reply.ext, when, reply.content))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredReply:
    """A reply as stored.

    :param id: its row id (increasing).
    :param mobile: the sender.
    :param ext: the ext it was sent to.
    :param content: the text.
    :param reply_time: when the gateway received it.
    :param received_at: when it reached the store.
    :param campaign_key: the campaign it answers, when known.
    :param msg_id: the message it answers, when known.
    """

    id: int
    mobile: str
    ext: str
    content: str
    reply_time: datetime | None
    received_at: datetime
    campaign_key: str | None
    msg_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mobile": self.mobile,
            "ext": self.ext,
            "content": self.content,
            "reply_time": self.reply_time.isoformat() if self.reply_time else None,
            "campaign_key": self.campaign_key,
            "msg_id": self.msg_id,
        }


@dataclass
class AddedReplies:
    """What ``ReplyStore.add`` did.

    :param new: replies that were not stored before.
    :param ids: their row ids.
    :param opted_out: numbers put on the opt-out list by these replies.
    """

    new: int = 0
    ids: list[int] = field(default_factory=list)
    opted_out: list[str] = field(default_factory=list)


class ReplyStore:
    """Write and read inbound replies.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _attribute(conn: Connection, reply: Reply) -> tuple[str | None, str | None]:
        """The campaign and message a reply answers: the latest message to that number with
        that ext sent before the reply, else the latest message to that number."""
        base = (
            select(sent_messages.c.campaign_key, sent_messages.c.msg_id)
            .where(sent_messages.c.mobile == reply.mobile)
            .order_by(sent_messages.c.sent_at.desc())
            .limit(1)
        )
        if reply.time is not None:
            # Gateway times have whole seconds and its clock is not ours: allow some skew.
            latest = reply.time.astimezone(UTC) + ATTRIBUTION_CLOCK_SKEW
            base = base.where(sent_messages.c.sent_at <= latest)
        for statement in (base.where(sent_messages.c.ext == reply.ext), base):
            row = conn.execute(statement).first()
            if row is not None:
                return row.campaign_key, row.msg_id
        return None, None

    def add(
        self,
        items: Sequence[Reply],
        source: str,
        opt_out_keywords: Collection[str] = DEFAULT_OPT_OUT_KEYWORDS,
        connection: Connection | None = None,
    ) -> AddedReplies:
        """Store replies once each, attribute them, and put opt-out senders on the list, all in
        one transaction. A reply the store cannot hold is quarantined with the reason."""
        from airflow_provider_hbsms.store.quarantine import quarantine_items, run_storing

        entries = [(r, None) for r in items]

        def work(conn: Connection, careful: bool = False) -> AddedReplies:
            added, refused = self.add_read(conn, entries, source, opt_out_keywords, careful)
            quarantine_items(conn, "replies", source, None, refused)
            return added

        # Attribution reads the sent messages: index what waits first (page by page, before
        # this transaction when it is ours).
        if connection is None:
            expand_pending(self.engine)
            return run_storing(self.engine, work)
        expand(connection)
        return work(connection, careful=True)

    def add_read(
        self,
        connection: Connection,
        entries: Sequence[tuple[Reply, Element | None]],
        source: str,
        opt_out_keywords: Collection[str] = DEFAULT_OPT_OUT_KEYWORDS,
        careful: bool = False,
    ) -> tuple[AddedReplies, list[tuple[str, str]]]:
        """Store the replies of ``entries`` (each with the element it was read from, if any)
        that the store can hold, attributed, opt-outs applied; returns what was added and
        ``(fragment, reason)`` of each reply it cannot hold. The sent messages must be indexed
        (``expand``) before."""
        keywords = {normalize_keyword(k) for k in opt_out_keywords}
        limits = limits_of(self.engine)
        opt_outs = OptOutList(self.engine)
        added = AddedReplies()
        refused: list[tuple[str, str]] = []
        now = datetime.now(UTC)
        for entry in entries:
            original = entry[0]
            try:
                mobile = canonical_mobile(original.mobile)
                if not mobile:
                    raise Unstorable("a reply needs a mobile")
                too_long("mobile", mobile, limits.mobile)
                too_long("ext", original.ext, limits.ext)
                too_long("corp_id", original.corp_id, limits.corp_id)
                when = utc("time", original.time)
            except Unstorable as exc:
                refused.append((_fragment(entry), str(exc)))
                continue
            reply = replace(original, mobile=mobile)

            def store(reply: Reply = reply, when: datetime | None = when) -> None:
                self._store_one(connection, reply, when, now, source, keywords, opt_outs, added)

            if careful:
                reason = one_by_one(connection, store)
                if reason is not None:
                    refused.append((_fragment(entry), reason))
            else:
                store()
        return added, refused

    def _store_one(
        self,
        connection: Connection,
        reply: Reply,
        when: datetime | None,
        now: datetime,
        source: str,
        keywords: set[str],
        opt_outs: OptOutList,
        added: AddedReplies,
    ) -> None:
        campaign, msg_id = self._attribute(connection, reply)
        row = {
            "reply_key": reply_key(reply),
            "mobile": reply.mobile,
            "ext": reply.ext,
            "content": reply.content,
            "reply_time": when,
            "corp_id": reply.corp_id,
            "received_at": now,
            "source": source,
            "campaign_key": campaign,
            "msg_id": msg_id,
        }
        if not insert_ignore(connection, replies, [row], ["reply_key"]):
            return
        reply_id = connection.execute(
            select(replies.c.id).where(replies.c.reply_key == row["reply_key"])
        ).scalar_one()
        added.new += 1
        added.ids.append(reply_id)
        keyword = normalize_keyword(reply.content)
        if keyword in keywords and opt_outs.add(
            [reply.mobile],
            source="reply",
            keyword=keyword,
            reply_id=reply_id,
            connection=connection,
        ):
            added.opted_out.append(reply.mobile)

    def find(
        self,
        mobiles: Sequence[str] | None = None,
        ext: str | None = None,
        pattern: str | None = None,
        campaign_key: str | None = None,
        after_id: int = 0,
        since: datetime | None = None,
        limit: int = 10_000,
    ) -> list[StoredReply]:
        """Replies matching every filter given, in arrival order.

        :param pattern: a regular expression searched in the content (case-insensitive).
        :param since: only replies received at or after this time.
        """
        statement = select(replies).where(replies.c.id > after_id).order_by(replies.c.id)
        if mobiles is not None:
            wanted = {canonical_mobile(m) for m in mobiles} | set(mobiles)
            statement = statement.where(replies.c.mobile.in_(list(wanted)))
        if ext is not None:
            statement = statement.where(replies.c.ext == ext)
        if campaign_key is not None:
            statement = statement.where(replies.c.campaign_key == campaign_key)
        if since is not None:
            statement = statement.where(replies.c.received_at >= since.astimezone(UTC))
        regex = re.compile(pattern, re.IGNORECASE) if pattern else None
        found = []
        with self.engine.connect() as conn:
            for row in conn.execute(statement.limit(limit)):
                if regex is not None and not regex.search(row.content):
                    continue
                found.append(
                    StoredReply(
                        row.id,
                        row.mobile,
                        row.ext,
                        row.content,
                        as_utc(row.reply_time),
                        as_utc(row.received_at),
                        row.campaign_key,
                        row.msg_id,
                    )
                )
        return found

    def rows_after(self, after_id: int, limit: int = 10_000) -> list[dict[str, Any]]:
        """Replies with ``id > after_id`` in id order, for incremental loaders."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(replies).where(replies.c.id > after_id).order_by(replies.c.id).limit(limit)
            )
            return [dict(row._mapping) for row in rows]

    def max_id(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(replies.c.id))).scalar() or 0)
