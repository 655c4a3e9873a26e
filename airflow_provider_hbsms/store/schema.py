"""The store's tables (SQLAlchemy Core). One schema for SQLite and PostgreSQL.

Times are stored as timezone-aware UTC (``DateTime(timezone=True)``); gateway times (China time)
are converted on the way in.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: The schema this code writes; ``hbsms_schema`` records the version a store is at, and
#: ``migrations.py`` brings older stores up to it.
SCHEMA_VERSION = 2
#: Sizes of the columns that hold what the gateway sends (version 2): a number in any
#: international form, msg_ids and status codes longer than the protocol promises, a 20-digit
#: access number as ext. Items that exceed them are quarantined, not truncated.
MOBILE_LENGTH, MSG_ID_LENGTH, ERR_LENGTH, EXT_LENGTH = 32, 100, 64, 32

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGSERIAL.
_Id = BigInteger().with_variant(Integer(), "sqlite")

#: The send ledger: one row per batch, written before and after the gateway call.
send_batches = Table(
    "hbsms_send_batches",
    metadata,
    Column("batch_key", String(64), primary_key=True),
    Column("campaign_key", String(200), nullable=False, index=True),
    Column("batch_no", Integer, nullable=False),
    Column("endpoint", String(32), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("submitted", Integer, nullable=False),
    Column("accepted", Integer),
    Column("segments", Integer, nullable=False, default=0),
    # pending -> accepted | rejected | unknown
    Column("state", String(16), nullable=False),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Each claimed batch's messages in one row, written with the claim; expanded into
#: ``hbsms_sent_messages`` (indexed per message) when something first reads those.
batch_messages = Table(
    "hbsms_batch_messages",
    metadata,
    Column("batch_key", String(64), primary_key=True),
    Column("campaign_key", String(200), nullable=False),
    # The msg_id, mobile, ext and segments columns, each newline-joined, joined by \x1e
    # (earlier builds wrote a tab-separated line per message; both are read).
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expanded", Integer, nullable=False, default=0),
    Index("ix_hbsms_batch_messages_expanded", "expanded"),
)

#: Every message of every batch, for matching reports and replies back to a campaign.
sent_messages = Table(
    "hbsms_sent_messages",
    metadata,
    Column("msg_id", String(50), primary_key=True),
    Column("mobile", String(11), primary_key=True),
    Column("campaign_key", String(200), nullable=False, index=True),
    # No index of its own: looked up (rarely) together with campaign_key, which has one.
    Column("batch_key", String(64), nullable=False),
    Column("ext", String(20), nullable=False, default=""),
    Column("segments", Integer, nullable=False, default=1),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Index("ix_hbsms_sent_messages_mobile_ext", "mobile", "ext"),
)

#: Delivery reports, kept once per (mobile, msg_id, sub_seq).
reports = Table(
    "hbsms_reports",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("mobile", String(MOBILE_LENGTH), nullable=False),
    Column("msg_id", String(MSG_ID_LENGTH), nullable=False),
    Column("sub_seq", Integer, nullable=False, default=0),
    Column("err", String(ERR_LENGTH), nullable=False),
    Column("fail_desc", Text, nullable=False, default=""),
    Column("delivered", Integer, nullable=False),
    Column("report_time", DateTime(timezone=True)),
    Column("corp_id", String(64), nullable=False, default=""),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(8), nullable=False),  # push | pull
    UniqueConstraint("mobile", "msg_id", "sub_seq", name="uq_hbsms_reports_key"),
    Index("ix_hbsms_reports_msg_id", "msg_id"),
)

#: Inbound replies, kept once per (mobile, ext, time, content) through reply_key.
replies = Table(
    "hbsms_replies",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("reply_key", String(64), nullable=False, unique=True),
    Column("mobile", String(MOBILE_LENGTH), nullable=False, index=True),
    Column("ext", String(EXT_LENGTH), nullable=False, default=""),
    Column("content", Text, nullable=False),
    Column("reply_time", DateTime(timezone=True)),
    Column("corp_id", String(64), nullable=False, default=""),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(8), nullable=False),
    # Attribution: the campaign and message this reply answers, when the ledger can tell.
    Column("campaign_key", String(200), index=True),
    Column("msg_id", String(50)),
)

#: Numbers that asked not to be texted again; the send operators exclude them.
opt_outs = Table(
    "hbsms_opt_outs",
    metadata,
    Column("mobile", String(MOBILE_LENGTH), primary_key=True),
    Column("keyword", String(64), nullable=False, default=""),
    Column("source", String(32), nullable=False),  # reply | manual | import
    Column("reply_id", _Id),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: When each kind of pull (reports, replies) last succeeded, per account.
pull_state = Table(
    "hbsms_pull_state",
    metadata,
    Column("corp_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),  # reports | replies
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_lost_at", DateTime(timezone=True)),  # a pulled page lost on the way
)

#: Named positions, e.g. the last reply id an event trigger reported.
cursors = Table(
    "hbsms_cursors",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Bodies that arrived but could not be read; kept so that nothing handed over is lost, and
#: replayed (``hbsms-store replay``) after a fix.
dead_letters = Table(
    "hbsms_dead_letters",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(8), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # Version 2: the route it came by, the raw body it is (pulls), and its replay.
    Column("route", String(64)),
    Column("inbound_id", BigInteger),
    Column("replayed_at", DateTime(timezone=True)),
    Column("replay_note", Text),
)

#: Every body pushed to the receiver or handed over by a pull, as received, written before or
#: in the same transaction as the rows parsed from it. ``state``: ``received`` (a pull's body,
#: kept before parsing), ``stored`` (every item stored), ``partial`` (some items quarantined),
#: ``dead`` (unreadable: see the dead letter).
inbound = Table(
    "hbsms_inbound",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(8), nullable=False),
    Column("route", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),
    Column("items", Integer, nullable=False, default=0),
    # NULL: ``body`` is the bytes as received; ``zlib``: compressed (``raw_bodies.py``).
    Column("body_encoding", String(8), nullable=True),
)

#: Items of a readable body that could not be stored (out of range, too long, unreadable time,
#: unknown shape): kept with the reason and their XML, once each, until a replay stores them.
quarantine = Table(
    "hbsms_quarantine",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("item_key", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(8), nullable=False),
    Column("inbound_id", BigInteger),
    Column("fragment", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # Set when a replay stored it (or found it stored): the row is kept as a record.
    Column("resolved_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, default=0),
    Index("ix_hbsms_quarantine_resolved", "resolved_at"),
)

#: The store's schema version (one row, ``name = 'store'``).
schema_info = Table(
    "hbsms_schema",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("migrated_at", DateTime(timezone=True), nullable=False),
)

#: The SHA-256 of each kept dead letter: a body pushed again is found by one index lookup,
#: not by comparing it with every body kept.
dead_letter_digests = Table(
    "hbsms_dead_letter_digests",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("source", String(8), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("dead_letter_id", _Id, nullable=False),
)

#: Input rows a campaign found invalid, when the send operator is asked to keep them here
#: (``store_rejects=True``); a campaign's rows are replaced on each try.
rejects = Table(
    "hbsms_rejects",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("campaign_key", String(200), nullable=False, index=True),
    Column("row_no", BigInteger, nullable=False),
    Column("field", String(64), nullable=False),
    Column("rule", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


# --------------------------------------------------------------------------------------------
# Delivery counters and batch leases (new tables only: created on existing stores as they are).
# --------------------------------------------------------------------------------------------

#: Each indexed message's last folded status, when not ``pending`` (``store/counters.py``).
delivery_state = Table(
    "hbsms_delivery_state",
    metadata,
    Column("msg_id", String(50), primary_key=True),
    Column("mobile", String(11), primary_key=True),
    Column("campaign_key", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # delivered | failed
    Column("reason", Text, nullable=False, default=""),
)

#: Per campaign: messages sent, delivered, and failed by reason (``store/counters.py``).
delivery_counts = Table(
    "hbsms_delivery_counts",
    metadata,
    Column("campaign_key", String(200), primary_key=True),
    Column("status", String(16), primary_key=True),  # sent | delivered | failed
    # A digest of ``reason`` (unbounded text), so the key stays short.
    Column("reason_key", String(16), primary_key=True),
    Column("reason", Text, nullable=False, default=""),
    Column("n", BigInteger, nullable=False),
)

#: A try of a campaign that is sending: who it is and when it last said it is alive.
send_leases = Table(
    "hbsms_send_leases",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("campaign_key", String(200), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

#: Which try claimed each batch last (its lease), so another try can tell a batch in flight
#: from one whose outcome nobody will learn.
batch_owners = Table(
    "hbsms_batch_owners",
    metadata,
    Column("batch_key", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
)
