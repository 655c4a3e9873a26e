"""Turning input rows into messages, naming the row, field and rule of every bad one."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_hbsms.campaign.messages import Message, Messages
from airflow_provider_hbsms.exceptions import (
    HbSmsValidationError,
    InvalidFieldError,
    ValidationProblem,
)
from airflow_provider_hbsms.protocol.segments import count_segments
from airflow_provider_hbsms.protocol.validation import (
    check_content,
    check_ext,
    check_msg_id,
    normalize_mobile,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd


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
        if self.kind == "bulk":
            if self.content is None:
                raise HbSmsValidationError([ValidationProblem("content", "is required")])
            check_content(self.content, "content")
        elif bool(self.template) == bool(self.content_column):
            raise HbSmsValidationError(
                [ValidationProblem("content", "give exactly one of template or content_column")]
            )
        self.template_fields()
        check_ext(self.ext, self.channel_number)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RowChecker:
    """Validates chunks of rows against a ``MessageSpec``.

    :param spec: how rows become messages.
    """

    def __init__(self, spec: MessageSpec) -> None:
        spec.check()
        self.spec = spec
        self.fields = spec.template_fields()
        self.columns = spec.columns()

    def _require_columns(self, chunk: pd.DataFrame) -> None:
        absent = [c for c in self.columns if c not in chunk.columns]
        if absent:
            raise HbSmsValidationError(
                [
                    ValidationProblem(
                        c, f"column not in the input (it has {list(chunk.columns)[:20]})"
                    )
                    for c in absent
                ]
            )

    def messages(
        self, chunk: pd.DataFrame, first_row: int
    ) -> Iterator[Message | ValidationProblem]:
        """Each row of ``chunk`` as a ``Message`` or the ``ValidationProblem`` it has."""
        self._require_columns(chunk)
        spec = self.spec
        signature = spec.signature
        bulk_segments = count_segments(spec.content or "", signature)
        data = {c: chunk[c].tolist() for c in self.columns}
        mobiles = data[spec.mobile_column]
        texts = data[spec.content_column] if spec.content_column else None
        exts = data[spec.ext_column] if spec.ext_column else None
        ids = data[spec.msg_id_column] if spec.msg_id_column else None
        for i, raw_mobile in enumerate(mobiles):
            row = first_row + i
            try:
                mobile = normalize_mobile(raw_mobile)
                if spec.kind == "bulk":
                    content = spec.content or ""
                elif texts is not None:
                    value = texts[i]
                    content = check_content(
                        "" if _missing(value) else _text(value), "content", personalized=True
                    )
                else:
                    content = check_content(self._render(data, i), "content", personalized=True)
                ext = spec.ext
                if exts is not None and not _missing(exts[i]):
                    ext = check_ext(_text(exts[i]), spec.channel_number)
                msg_id = None
                if ids is not None:
                    msg_id = check_msg_id("" if _missing(ids[i]) else _text(ids[i]), "msg_id")
            except InvalidFieldError as exc:
                yield exc.problem.at_row(row)
                continue
            segments = bulk_segments if spec.kind == "bulk" else count_segments(content, signature)
            yield Message(row, mobile, content, ext, msg_id, segments)

    def check(
        self, chunk: pd.DataFrame, first_row: int
    ) -> tuple[Messages, list[ValidationProblem]]:
        """The chunk's valid messages, column by column, and the problems of the others.

        Columns are checked whole first (``columnwise``: the usual all-valid chunk costs well
        under a microsecond a row); a chunk that fails that is checked row by row.
        """
        from airflow_provider_hbsms.campaign import columnwise  # pyarrow: only when sending

        self._require_columns(chunk)
        valid = columnwise.valid_arrow(self.spec, chunk, first_row)
        if valid is not None:
            return valid, []
        data = {c: chunk[c].tolist() for c in self.columns}
        valid = columnwise.valid_lists(self.spec, data, first_row, self._render)
        if valid is not None:
            return valid, []
        problems: list[ValidationProblem] = []
        messages: list[Message] = []
        for item in self.messages(chunk, first_row):
            if isinstance(item, ValidationProblem):
                problems.append(item)
            else:
                messages.append(item)
        return Messages.of(messages), problems

    def _render(self, data: dict[str, list[Any]], i: int) -> str:
        values = {}
        for name in self.fields:
            value = data[name][i]
            if _missing(value):
                raise InvalidFieldError(name, "template field is empty in this row")
            values[name] = value
        try:
            return (self.spec.template or "").format_map(values)
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise InvalidFieldError("template", f"cannot be rendered: {exc}") from None
