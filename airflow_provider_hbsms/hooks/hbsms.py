"""HbSmsHook: an Airflow connection of type ``hbsms`` -> an ``HbSmsClient``."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit

from airflow.sdk import BaseHook

from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.exceptions import HbSmsError
from airflow_provider_hbsms.pacing import SCOPES
from airflow_provider_hbsms.protocol.forms import encode_value
from airflow_provider_hbsms.protocol.models import Credentials
from airflow_provider_hbsms.transport import positive_seconds

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from sqlalchemy import Engine

    from airflow_provider_hbsms.protocol.models import (
        PersonalizedItem,
        Reply,
        Report,
        SendResult,
    )

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _mask(secret: str) -> None:
    """Mask ``secret`` and every form of it that could reach a log line."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside a full Airflow install
        return
    for form in {secret, quote(secret, safe=""), quote_plus(secret), encode_value(secret)}:
        if form:
            mask_secret(form)


class HbSmsHook(BaseHook):
    """Talk to the HB SMS gateway through an Airflow connection.

    The connection: ``host`` (or a full base URL), ``port`` (8080 by default), ``schema``
    (``http`` or ``https``), ``login`` = corp_id, ``password`` = corp_pwd; extras
    ``corp_service``, ``channel_number``, ``user_id`` (defaults to corp_id), ``signature``,
    ``timeout`` (read timeout, seconds), ``connect_timeout``, ``deadline`` (a whole request,
    seconds), ``pacing`` (``account`` or ``endpoint``) and ``verify`` (TLS). The extras are
    checked when the client is made, before anything is sent or claimed.

    :param hbsms_conn_id: the connection id.
    :param pool_size: connections kept for concurrent callers of this hook's client.
    """

    conn_name_attr = "hbsms_conn_id"
    default_conn_name = "hbsms_default"
    conn_type = "hbsms"
    hook_name = "HB SMS"

    def __init__(self, hbsms_conn_id: str = default_conn_name, pool_size: int = 4) -> None:
        super().__init__()
        self.hbsms_conn_id = hbsms_conn_id
        self.pool_size = pool_size

    @cached_property
    def _extras(self) -> dict[str, Any]:
        extras = self._connection.extra_dejson
        prefix = f"extra__{self.conn_type}__"
        # Accept both plain keys and the prefixed form older connection forms wrote.
        return {key.removeprefix(prefix): value for key, value in extras.items()}

    @cached_property
    def _connection(self) -> Any:
        return self.get_connection(self.hbsms_conn_id)

    @property
    def base_url(self) -> str:
        """The gateway's base URL from the connection's schema, host and port."""
        conn = self._connection
        host = (conn.host or "").strip()
        if not host:
            raise HbSmsError(f"connection {self.hbsms_conn_id!r} has no host")
        if "://" in host:
            # A full URL; a path prefix is kept (a gateway behind a reverse proxy).
            parts = urlsplit(host)
            return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        scheme = (conn.schema or "http").strip().lower()
        if scheme not in ("http", "https"):
            raise HbSmsError(
                f"connection {self.hbsms_conn_id!r}: schema must be http or https, got {scheme!r}"
            )
        port = conn.port or DEFAULT_PORT
        return f"{scheme}://{host}:{port}"

    @property
    def channel_number(self) -> str:
        return str(self._extras.get("channel_number") or "")

    @property
    def signature(self) -> str:
        return str(self._extras.get("signature") or "")

    @cached_property
    def credentials(self) -> Credentials:
        conn = self._connection
        if not conn.login or not conn.password:
            raise HbSmsError(
                f"connection {self.hbsms_conn_id!r} needs login (corp_id) and password (corp_pwd)"
            )
        _mask(conn.password)
        return Credentials(
            corp_id=conn.login,
            corp_pwd=conn.password,
            corp_service=str(self._extras.get("corp_service") or ""),
            user_id=str(self._extras.get("user_id") or ""),
        )

    def _seconds(self, name: str, default: float | None) -> float | None:
        value = self._extras.get(name)
        if value is None or value == "":
            return default
        try:
            return positive_seconds(name, value)
        except ValueError as exc:
            raise HbSmsError(f"connection {self.hbsms_conn_id!r}: extra {exc}") from None

    def _verify(self) -> bool | str:
        verify = self._extras.get("verify", True)
        if verify is None or verify == "":
            return True
        if isinstance(verify, bool):
            return verify
        if isinstance(verify, str):
            lowered = verify.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            return verify  # a CA bundle path
        raise HbSmsError(
            f"connection {self.hbsms_conn_id!r}: extra verify must be true, false or a CA "
            f"bundle path, got {verify!r}"
        )

    def _pacing_scope(self) -> str:
        scope = str(self._extras.get("pacing") or "account").strip().lower()
        if scope not in SCOPES:
            raise HbSmsError(
                f"connection {self.hbsms_conn_id!r}: extra pacing must be one of "
                f"{', '.join(SCOPES)}, got {scope!r}"
            )
        return scope

    def client_settings(self) -> dict[str, Any]:
        """The client's settings from the connection's extras, each checked.

        :raises HbSmsError: an extra is invalid (the message names it).
        """
        connect = self._seconds("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        read = self._seconds("timeout", DEFAULT_TIMEOUT)
        return {
            "connect_timeout": connect,
            "read_timeout": read,
            "deadline": self._seconds("deadline", None),
            "verify": self._verify(),
            "pacing_scope": self._pacing_scope(),
        }

    @cached_property
    def client(self) -> HbSmsClient:
        """The client for this connection (created once per hook).

        :raises HbSmsError: the connection lacks a field or an extra is invalid.
        """
        settings = self.client_settings()
        return HbSmsClient(
            self.base_url,
            self.credentials,
            channel_number=self.channel_number,
            signature=self.signature,
            pool_size=self.pool_size,
            pacing_engine=_configured_store_engine(),
            **settings,
        )

    def get_conn(self) -> HbSmsClient:
        """The ``HbSmsClient`` of this connection."""
        return self.client

    def send(
        self, mobiles: Sequence[str], content: str, corp_msg_id: str, ext: str = ""
    ) -> SendResult:
        """Send one text to up to 200 numbers; see ``HbSmsClient.send``."""
        return self.client.send(mobiles, content, corp_msg_id, ext)

    def send_personalized(self, items: Sequence[PersonalizedItem]) -> SendResult:
        """Send up to 200 individual messages; see ``HbSmsClient.send_personalized``."""
        return self.client.send_personalized(items)

    def get_balance(self) -> Decimal:
        """The account balance."""
        return self.client.get_balance()

    def fetch_reports(self) -> list[Report]:
        """One pull of delivery reports; store them before anything else reads them."""
        return self.client.fetch_reports()

    def fetch_replies(self) -> list[Reply]:
        """One pull of replies; store them before anything else reads them."""
        return self.client.fetch_replies()

    def test_connection(self) -> tuple[bool, str]:
        """Check host, credentials and IP binding with one balance query (it sends nothing).

        An unreachable host fails at once (within the connect timeout): the query is not
        retried, as a task's balance check is.
        """
        try:
            balance = self.client.get_balance(retry_transport=False)
        except HbSmsError as exc:
            return False, str(exc)
        return True, f"Connection OK: balance {balance}"


def _configured_store_engine() -> Engine | None:
    """The configured store's engine when it is PostgreSQL (pacing across hosts), else None.

    A store that cannot be opened leaves pacing to the pacing files, with a warning.
    """
    from airflow_provider_hbsms.store.db import get_engine, resolve_store_url

    try:
        url = resolve_store_url()
        if not url.startswith("postgresql"):
            return None
        return get_engine(url)
    except Exception as exc:  # the store is optional here: pacing falls back to files
        log.warning(
            "Pacing through files: the configured store could not be opened (%s)",
            type(exc).__name__,
        )
        return None
