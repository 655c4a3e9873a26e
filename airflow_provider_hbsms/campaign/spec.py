"""How rows become messages: the ``MessageSpec`` and one ``MessageKind`` per kind of campaign.

Everything that differs between a same-content campaign (``bulk``: one text to every number,
``/sms_send2.do``) and a personalized one (one text per row, ``/hSmsSend.do``) is a method of
its kind: how the spec is checked, where a row's text comes from, whether numbers are
deduplicated, the endpoint, the batch's wire form and its request body.
"""

from __future__ import annotations

import functools
import math
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow_provider_hbsms.campaign import columnwise
from airflow_provider_hbsms.exceptions import HbSmsValidationError, ValidationProblem
from airflow_provider_hbsms.protocol.endpoints import Endpoint
from airflow_provider_hbsms.protocol.forms import (
    build_send_body,
    join_send_param_columns,
    personalized_body,
)
from airflow_provider_hbsms.protocol.segments import count_segments
from airflow_provider_hbsms.protocol.validation import check_content, check_ext

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from airflow_provider_hbsms.campaign.messages import Messages
    from airflow_provider_hbsms.protocol.models import Credentials


def missing(value: Any) -> bool:
    """An empty cell: None, NaN or the empty string."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def as_text(value: Any) -> str:
    """A cell as text; a float holding an integer (a number column with gaps) without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@functools.lru_cache(maxsize=16)
def _segments(content: str, signature: str) -> int:
    return count_segments(content, signature)


class MessageKind:
    """What one kind of campaign does its own way; ``KINDS`` holds one of each.

    :cvar name: the kind's name in ``MessageSpec.kind``.
    :cvar endpoint: where its batches are posted.
    :cvar dedupes: whether ``dedupe`` applies (a number is sent the same text once).
    """

    name: ClassVar[str]
    endpoint: ClassVar[Endpoint]
    dedupes: ClassVar[bool]

    def check(self, spec: MessageSpec) -> None:
        """Refuse the spec's content settings when they cannot work."""
        raise NotImplementedError

    def row_content(
        self, spec: MessageSpec, data: dict[str, list[Any]], i: int, render: Callable[..., str]
    ) -> str:
        """The text of row ``i``, checked (raises ``InvalidFieldError``)."""
        raise NotImplementedError

    def segments(self, spec: MessageSpec, content: str) -> int:
        """The billed segments of one message of ``content``."""
        return count_segments(content, spec.signature)

    def column_contents(
        self, spec: MessageSpec, data: dict[str, list[Any]], n: int, render: Callable[..., str]
    ) -> tuple[list[str], list[int]] | None:
        """The texts and segments of a chunk's ``n`` rows, if every text is valid as it stands
        (None sends the chunk to the row-by-row check)."""
        raise NotImplementedError

    def arrow_messages(
        self, spec: MessageSpec, chunk: pd.DataFrame, first_row: int
    ) -> Messages | None:
        """The chunk's messages kept as Arrow columns, when the kind and the input allow it
        and every row is valid; else None."""
        return None

    def wire(
        self, spec: MessageSpec, messages: Messages, prefix: str, batch_no: int
    ) -> tuple[list[str], str]:
        """A batch's message ids and its wire form (hashed for the ledger).

        :param messages: the batch's validated messages, as lists.
        :param prefix: the campaign's message id prefix.
        :param batch_no: the batch's number.
        """
        raise NotImplementedError

    def body(
        self,
        spec: MessageSpec,
        credentials: Credentials,
        messages: Messages,
        msg_ids: list[str],
        wire: bytes,
    ) -> bytes:
        """The request body of a batch whose rows were validated already."""
        raise NotImplementedError


class BulkKind(MessageKind):
    """One text to every number (``/sms_send2.do``)."""

    name = "bulk"
    endpoint = Endpoint.SEND
    dedupes = True

    def check(self, spec: MessageSpec) -> None:
        if spec.content is None:
            raise HbSmsValidationError([ValidationProblem("content", "is required")])
        check_content(spec.content, "content")

    def row_content(
        self, spec: MessageSpec, data: dict[str, list[Any]], i: int, render: Callable[..., str]
    ) -> str:
        return spec.content or ""

    def segments(self, spec: MessageSpec, content: str) -> int:
        return _segments(content, spec.signature)  # the same text on every row: counted once

    def column_contents(
        self, spec: MessageSpec, data: dict[str, list[Any]], n: int, render: Callable[..., str]
    ) -> tuple[list[str], list[int]] | None:
        content = spec.content or ""
        return [content] * n, [self.segments(spec, content)] * n

    def wire(
        self, spec: MessageSpec, messages: Messages, prefix: str, batch_no: int
    ) -> tuple[list[str], str]:
        msg_ids = [f"{prefix}-{batch_no}"] * len(messages)
        return msg_ids, "\n".join([*messages.mobiles, spec.content or "", spec.ext])

    def body(
        self,
        spec: MessageSpec,
        credentials: Credentials,
        messages: Messages,
        msg_ids: list[str],
        wire: bytes,
    ) -> bytes:
        return build_send_body(
            credentials, messages.mobiles, spec.content or "", msg_ids[0], spec.ext, validate=False
        )


class PersonalizedKind(MessageKind):
    """One text per row, from a column or a template (``/hSmsSend.do``)."""

    name = "personalized"
    endpoint = Endpoint.PERSONALIZED_SEND
    dedupes = False

    def check(self, spec: MessageSpec) -> None:
        if bool(spec.template) == bool(spec.content_column):
            raise HbSmsValidationError(
                [ValidationProblem("content", "give exactly one of template or content_column")]
            )

    def row_content(
        self, spec: MessageSpec, data: dict[str, list[Any]], i: int, render: Callable[..., str]
    ) -> str:
        if spec.content_column:
            value = data[spec.content_column][i]
            text = "" if missing(value) else as_text(value)
        else:
            text = render(data, i)
        return check_content(text, "content", personalized=True)

    def column_contents(
        self, spec: MessageSpec, data: dict[str, list[Any]], n: int, render: Callable[..., str]
    ) -> tuple[list[str], list[int]] | None:
        if spec.content_column:
            texts = columnwise.as_text(data[spec.content_column], numbers=False)
        else:
            try:
                texts = [render(data, i) for i in range(n)]
            except Exception:  # any row that cannot be rendered is named by the row path
                return None
        if texts is None or not columnwise.contents_valid(texts):
            return None
        return texts, [count_segments(c, spec.signature) for c in texts]

    def arrow_messages(
        self, spec: MessageSpec, chunk: pd.DataFrame, first_row: int
    ) -> Messages | None:
        if not spec.content_column or spec.ext_column or spec.msg_id_column:
            return None
        from airflow_provider_hbsms.campaign import arrow  # pyarrow: only when sending

        return arrow.valid_messages(
            chunk[spec.mobile_column],
            chunk[spec.content_column],
            spec.ext,
            spec.signature,
            first_row,
        )

    def wire(
        self, spec: MessageSpec, messages: Messages, prefix: str, batch_no: int
    ) -> tuple[list[str], str]:
        msg_ids = [
            i or f"{prefix}-{r}" for i, r in zip(messages.msg_ids, messages.rows, strict=True)
        ]
        # Rows were validated (RowChecker): join them straight into the wire format.
        return msg_ids, join_send_param_columns(
            messages.mobiles, msg_ids, messages.exts, messages.contents
        )

    def body(
        self,
        spec: MessageSpec,
        credentials: Credentials,
        messages: Messages,
        msg_ids: list[str],
        wire: bytes,
    ) -> bytes:
        return personalized_body(credentials, wire, len(messages))


#: One strategy per kind of campaign, by ``MessageSpec.kind``.
KINDS: dict[str, MessageKind] = {kind.name: kind for kind in (BulkKind(), PersonalizedKind())}


@dataclass(frozen=True)
class MessageSpec:
    """How rows become messages.

    :param kind: ``bulk`` (one text to every number) or ``personalized``.
    :param content: the text of a bulk campaign.
    :param template: a ``str.format`` template over the row's columns (personalized).
    :param content_column: the column holding each row's text (personalized).
    :param mobile_column: the column of numbers.
    :param ext: the ext of every message, unless ``ext_column`` gives one per row.
    :param ext_column: the column of per-row exts.
    :param msg_id_column: the column of per-row message ids (generated when absent).
    :param channel_number: the account's channel number, for the ext length rule.
    :param signature: the signature the gateway appends, for billed segments.
    """

    kind: Literal["bulk", "personalized"]
    content: str | None = None
    template: str | None = None
    content_column: str | None = None
    mobile_column: str = "mobile"
    ext: str = ""
    ext_column: str | None = None
    msg_id_column: str | None = None
    channel_number: str = ""
    signature: str = ""

    @property
    def rules(self) -> MessageKind:
        """The strategy of this spec's kind."""
        return KINDS[self.kind]

    def template_fields(self) -> list[str]:
        if not self.template:
            return []
        fields = []
        for _, name, _, _ in string.Formatter().parse(self.template):
            if name is not None:
                if not name or name.isdigit():
                    raise HbSmsValidationError(
                        [ValidationProblem("template", "fields must be named, e.g. {name}")]
                    )
                fields.append(name.split(".")[0].split("[")[0])
        return list(dict.fromkeys(fields))

    def columns(self) -> list[str]:
        """Every input column this spec reads."""
        named = [self.mobile_column, self.content_column, self.ext_column, self.msg_id_column]
        return list(dict.fromkeys([c for c in named if c] + self.template_fields()))

    def check(self) -> None:
        """Refuse a spec that cannot work, before any row is read."""
        self.rules.check(self)
        self.template_fields()
        check_ext(self.ext, self.channel_number)
