"""The gateway's 200 ms spacing of balance and pull calls, shared across processes and hosts.

The gateway refuses a balance or pull call made within 200 ms of the previous one of the same
user (``104`` / ``-19``; the document words it per user, 用户访问…间隔200毫秒). Several Airflow
workers, a sensor in the triggerer and a collector may all poll one account, so the calls of an
account take turns: a turn is held for the whole call and the next one starts ``interval``
after the previous one *ended*. Measured from the end, the gap the gateway sees holds whatever
a call costs on the way (a new connection, a slow DNS answer, a pause of the caller).

Where the turn lives:

* ``FilePacer``: a small file guarded by ``flock``; every process on the machine that uses the
  same directory takes its turn (the SQLite store's deployments: one machine).
* ``DatabasePacer``: a row of ``hbsms_pacing`` in the PostgreSQL store, locked for the call
  (``SELECT ... FOR UPDATE``) and stamped with the database's clock: workers and triggerers on
  different machines take turns, whatever their clocks say.

Processes that share neither still get ``104`` / ``-19`` now and then; the client waits those
out.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import struct
import tempfile
import threading
import time
import weakref
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from airflow_provider_hbsms.protocol.endpoints import PACING_INTERVAL, Endpoint

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine

#: Spacing used by default, from the end of one call to the start of the next: the protocol's
#: 200 ms plus a margin for the gateway's own clock. Measured from the end, the gateway sees more
#: (the previous reply's way back and the next request's way there).
DEFAULT_INTERVAL = PACING_INTERVAL + 0.005
#: ``account``: balance and both pulls of an account share one turn (the document's wording);
#: ``endpoint``: each endpoint has its own.
SCOPES = ("account", "endpoint")
_STAMP = struct.Struct("<d")


def default_pacing_dir() -> Path:
    """Where pacing files live: ``$HBSMS_PACING_DIR`` or the system temp directory."""
    return Path(os.environ.get("HBSMS_PACING_DIR") or tempfile.gettempdir()) / "hbsms-pacing"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class Pacer(Protocol):
    """Takes turns for the calls that share ``key``."""

    key: str
    interval: float

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """Wait for the turn; the call runs inside; its end is stamped on the way out."""
        ...


class FilePacer:
    """Spaces calls that share ``key`` by ``interval`` seconds, through a lock file.

    :param key: what is paced together, e.g. ``"http://gw:8080|corp"``.
    :param interval: minimum seconds from the end of a call to the start of the next.
    :param directory: where the pacing file lives; processes sharing it share the pacing.
    """

    def __init__(
        self, key: str, interval: float = DEFAULT_INTERVAL, directory: Path | None = None
    ) -> None:
        self.key = key
        self.interval = interval
        folder = directory or default_pacing_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{_digest(key)[:24]}.pace"

    def _wait(self, fd: int) -> None:
        """With the lock held: sleep until ``interval`` after the previous call's end."""
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, _STAMP.size)
        last = _STAMP.unpack(raw)[0] if len(raw) == _STAMP.size else 0.0
        wait = last + self.interval - time.time()
        if 0 < wait <= self.interval:  # a stamp further ahead than that: the clock jumped back
            time.sleep(wait)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Block until it is this caller's turn, and keep it until the call ends."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._wait(fd)
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, _STAMP.pack(time.time()))
        finally:
            os.close(fd)  # closing releases the lock


_metadata = MetaData()
#: The end of the last paced call per key, on the database's clock.
pacing_table = Table(
    "hbsms_pacing",
    _metadata,
    Column("key", String(40), primary_key=True),
    Column("last_end", DateTime(timezone=True), nullable=False),
)
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_ready_lock = threading.Lock()


def _ensure_table(engine: Engine) -> None:
    with _ready_lock:
        if engine in _ready:
            return
        for attempt in range(3):
            try:
                _metadata.create_all(engine, checkfirst=True)
                break
            except DBAPIError:  # another process created it meanwhile
                if attempt == 2:
                    raise
                time.sleep(0.05)
        _ready.add(engine)


class DatabasePacer:
    """Spaces calls that share ``key`` through a locked row of a PostgreSQL database.

    The row stays locked for the whole call, so callers on any host wait for it; the wait is
    computed on the database's clock (``clock_timestamp()``).

    :param key: what is paced together.
    :param engine: a PostgreSQL engine (the store's).
    :param interval: minimum seconds from the end of a call to the start of the next.
    """

    def __init__(self, key: str, engine: Engine, interval: float = DEFAULT_INTERVAL) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(f"DatabasePacer needs PostgreSQL, not {engine.dialect.name}")
        self.key = key
        self.engine = engine
        self.interval = interval
        self._row = _digest(key)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Block until it is this caller's turn (on any host), and keep it until the call ends."""
        _ensure_table(self.engine)
        table = pacing_table
        with self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.execute(
                    pg_insert(table)
                    .values(key=self._row, last_end=datetime(2000, 1, 1).astimezone())
                    .on_conflict_do_nothing()
                )
                last, now = conn.execute(
                    select(table.c.last_end, func.clock_timestamp())
                    .where(table.c.key == self._row)
                    .with_for_update()
                ).one()
                wait = (last - now).total_seconds() + self.interval
                if 0 < wait <= self.interval:
                    time.sleep(wait)
            except BaseException:
                transaction.rollback()
                raise
            try:
                yield
            finally:
                conn.execute(
                    update(table)
                    .where(table.c.key == self._row)
                    .values(last_end=func.clock_timestamp())
                )
                transaction.commit()


def make_pacer(
    key: str,
    interval: float = DEFAULT_INTERVAL,
    *,
    directory: Path | None = None,
    engine: Engine | None = None,
) -> FilePacer | DatabasePacer:
    """A ``DatabasePacer`` on a PostgreSQL ``engine``, else a ``FilePacer``.

    :param key: what is paced together.
    :param interval: minimum seconds between the end of a call and the start of the next.
    :param directory: the pacing files' directory (``FilePacer``).
    :param engine: the store's engine; PostgreSQL paces across hosts.
    """
    if engine is not None and engine.dialect.name == "postgresql":
        return DatabasePacer(key, engine, interval)
    return FilePacer(key, interval, directory)


#: The endpoints the gateway refuses within 200 ms of the previous call, by family.
_PACED_FAMILY = {
    Endpoint.BALANCE: "balance",
    Endpoint.PULL_REPORTS: "reports",
    Endpoint.PULL_REPLIES: "replies",
}


def account_pacers(
    account: str,
    scope: str,
    interval: float = DEFAULT_INTERVAL,
    *,
    directory: Path | None = None,
    engine: Engine | None = None,
) -> dict[Endpoint, Pacer]:
    """The pacer of each paced endpoint of one account: one shared by all under the
    ``account`` scope, one each under ``endpoint``.

    :param account: what identifies the account (base URL and corp_id).
    :param scope: one of ``SCOPES``.
    :param interval: minimum seconds between the end of a call and the start of the next.
    :param directory: the pacing files' directory.
    :param engine: the store's engine; PostgreSQL paces across hosts.
    """
    made: dict[str, Pacer] = {}
    chosen: dict[Endpoint, Pacer] = {}
    for endpoint, family in _PACED_FAMILY.items():
        key = account if scope == "account" else f"{account}|{family}"
        if key not in made:
            made[key] = make_pacer(key, interval, directory=directory, engine=engine)
        chosen[endpoint] = made[key]
    return chosen


#: The name this module's pacer had before it could pace across hosts.
AccountPacer = FilePacer
