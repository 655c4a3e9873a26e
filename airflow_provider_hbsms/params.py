"""The parameters every operator, sensor and trigger shares, in one place: the gateway and
store connections (their defaults, docstring text, templated fields, a cached hook and store)
and ``kinds=``, the choice of reports, replies (and statuses).

Triggers reach the gateway and the store through their condition (``waiting.py``), which
is a ``GatewayAccess`` too, so their keyword arguments hold connection ids, never secrets.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.store import Store, open_store

if TYPE_CHECKING:
    from collections.abc import Iterable

#: The gateway connection used when none is given.
DEFAULT_HBSMS_CONN_ID: str = HbSmsHook.default_conn_name
#: The store connection used when none is given; None: ``[hbsms] store_conn_id`` /
#: ``store_url``, else SQLite in AIRFLOW_HOME.
DEFAULT_STORE_CONN_ID: str | None = None

#: What a pull drains: the gateway's two queues.
PULL_KINDS: tuple[str, ...] = ("reports", "replies")

#: The store parameters' docstring text, appended to every class that takes them (``{name}``
#: becomes " (templated)" where ``name`` is a template field of the class).
STORE_PARAMS_DOC = """
    :param store_conn_id: Airflow connection of the store database (ledger, reports, replies,
        opt-outs); default ``[hbsms] store_conn_id`` / ``store_url``, else SQLite
        ``hbsms.db`` in AIRFLOW_HOME.{store_conn_id}
    :param store_url: SQLAlchemy URL of the store, instead of ``store_conn_id``.
"""
#: The gateway connection parameter's docstring text.
GATEWAY_PARAMS_DOC = """
    :param hbsms_conn_id: the ``hbsms`` connection of the gateway account (default
        ``hbsms_default``).{hbsms_conn_id}
"""

#: Template fields of the store parameters. Not ``store_url``: it may hold a password, which
#: rendering would keep in the metadata database (Rendered Templates).
STORE_TEMPLATE_FIELDS: tuple[str, ...] = ("store_conn_id",)
#: Template fields of the gateway and store parameters.
GATEWAY_TEMPLATE_FIELDS: tuple[str, ...] = ("hbsms_conn_id", *STORE_TEMPLATE_FIELDS)


class StoreAccess:
    """Mixin: the store connection parameters and a cached store, opened on first use (after
    the templates are rendered). The parameters' docstring text is appended to every
    subclass's own docstring.

    :param store_conn_id: connection of the store database.
    :param store_url: or its SQLAlchemy URL.
    """

    store_conn_id: str | None
    store_url: str | None
    _params_doc: ClassVar[str] = STORE_PARAMS_DOC

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__doc__")
        # One text for the shared parameters: each public class's docstring ends with it.
        if own and not cls.__name__.startswith("_") and ":param store_conn_id:" not in own:
            templated = set(getattr(cls, "template_fields", ()))
            marks = {
                name: " (templated)" if name in templated else ""
                for name in ("hbsms_conn_id", "store_conn_id")
            }
            cls.__doc__ = own.rstrip() + "\n" + cls._params_doc.format(**marks).lstrip("\n")

    def _set_store(
        self, store_conn_id: str | None = DEFAULT_STORE_CONN_ID, store_url: str | None = None
    ) -> None:
        self.store_conn_id = store_conn_id
        self.store_url = store_url

    @cached_property
    def store(self) -> Store:
        """The store (ledger, reports, replies, opt-outs, cursors)."""
        return open_store(url=self.store_url, conn_id=self.store_conn_id)


class GatewayAccess(StoreAccess):
    """Mixin: the gateway connection and the store, each cached once made.

    :param hbsms_conn_id: the ``hbsms`` connection.
    :param store_conn_id: connection of the store database.
    :param store_url: or its SQLAlchemy URL.
    """

    hbsms_conn_id: str
    #: Connections the hook's client keeps for concurrent callers.
    hook_pool_size: int = 4
    _params_doc: ClassVar[str] = GATEWAY_PARAMS_DOC + STORE_PARAMS_DOC.lstrip("\n")

    def _set_access(
        self,
        hbsms_conn_id: str = DEFAULT_HBSMS_CONN_ID,
        store_conn_id: str | None = DEFAULT_STORE_CONN_ID,
        store_url: str | None = None,
    ) -> None:
        self.hbsms_conn_id = hbsms_conn_id
        self._set_store(store_conn_id, store_url)

    @cached_property
    def hook(self) -> HbSmsHook:
        """The gateway's hook (its ``client`` talks to the gateway)."""
        return HbSmsHook(self.hbsms_conn_id, pool_size=self.hook_pool_size)


def check_kinds(kinds: str | Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``kinds`` as a tuple (one kind may be given as a string), each one of ``allowed``.

    :raises ValueError: naming the first value that is not allowed, or an empty choice.
    """
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in chosen:
        if kind not in allowed:
            raise ValueError(
                f"kinds: {kind!r} is not a kind; choose from {', '.join(map(repr, allowed))}"
            )
    if not chosen:
        raise ValueError(f"kinds: choose at least one of {', '.join(map(repr, allowed))}")
    return tuple(dict.fromkeys(chosen))
