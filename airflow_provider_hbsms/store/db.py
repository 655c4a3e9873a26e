"""Engines for the store: a SQLite file by default, any SQLAlchemy URL, or an Airflow connection."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event

from airflow_provider_hbsms.store.migrations import prepare

if TYPE_CHECKING:
    from collections.abc import Callable

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def default_sqlite_path() -> Path:
    """``$AIRFLOW_HOME/hbsms.db`` (``~/airflow`` when AIRFLOW_HOME is unset)."""
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return Path(home) / "hbsms.db"


#: How long a SQLite writer waits for another process's write lock, by default (tasks).
DEFAULT_BUSY_TIMEOUT = 30.0


def _sqlite_pragmas(busy_timeout: float) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers (sensors) run beside a writer (a send); busy_timeout makes
        # concurrent writers from several processes wait instead of failing with "database is
        # locked".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    return on_connect


def make_engine(
    url: str, migrate: bool = True, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> Engine:
    """A new engine for ``url`` with the store's tables created if missing.

    :param url: the SQLAlchemy URL.
    :param migrate: bring a store of an older schema version up to the current one.
    :param busy_timeout: seconds a SQLite writer waits for another's lock before failing
        (the push receiver uses a short one: it must answer within the gateway's timeout).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_recycle=1800)
    prepare(engine, migrate=migrate)
    return engine


#: SQLSTATEs of a transaction the database aborted to break a deadlock or a serialization
#: conflict: running it again is the documented remedy.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})

T = TypeVar("T")


def in_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 3) -> T:
    """Run ``work`` in a transaction of its own, again if the database aborted it to break a
    deadlock. PostgreSQL does that when a push and a pull insert overlapping reports in
    different orders; the rows are still in memory, so nothing is lost by the retry."""
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                return work(connection)
        except Exception as exc:
            # Wrapped by SQLAlchemy (DBAPIError.orig) or raw from a driver-level insert.
            code = getattr(getattr(exc, "orig", exc), "pgcode", None)
            if code not in _RETRYABLE_SQLSTATES or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def get_engine(url: str) -> Engine:
    """A process-wide engine for ``url`` (created, with its tables, on first use)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def url_from_conn_id(conn_id: str) -> str:
    """The SQLAlchemy URL of an Airflow connection (postgres, sqlite, mysql, ...)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    scheme = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql"}.get(
        conn.conn_type or "", conn.conn_type or ""
    )
    uri = conn.get_uri()
    return scheme + uri[uri.index("://") :]


def resolve_store_url(url: str | None = None, conn_id: str | None = None) -> str:
    """Which database the store uses: an explicit URL, else a connection id, else the
    ``[hbsms] store_conn_id`` / ``store_url`` settings, else the SQLite default."""
    if url:
        return url
    if conn_id:
        return url_from_conn_id(conn_id)
    conn_id = os.environ.get("AIRFLOW__HBSMS__STORE_CONN_ID") or _airflow_option("store_conn_id")
    if conn_id:
        return url_from_conn_id(conn_id)
    url = os.environ.get("AIRFLOW__HBSMS__STORE_URL") or _airflow_option("store_url")
    if url:
        return url
    path = default_sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _airflow_option(key: str) -> str:
    try:
        from airflow.configuration import conf
    except ImportError:  # pragma: no cover - the store also runs without Airflow (receiver)
        return ""
    return conf.get("hbsms", key, fallback="") or ""
