"""Turning input rows into messages, naming the row, field and rule of every bad one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.campaign import columnwise
from airflow_provider_hbsms.campaign.messages import Message, Messages
from airflow_provider_hbsms.campaign.spec import as_text, missing
from airflow_provider_hbsms.exceptions import (
    HbSmsValidationError,
    InvalidFieldError,
    ValidationProblem,
)
from airflow_provider_hbsms.protocol.endpoints import MAX_CALLER_ID_DIGITS
from airflow_provider_hbsms.protocol.validation import check_ext, check_msg_id, normalize_mobile

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

    from airflow_provider_hbsms.campaign.spec import MessageSpec


class RowChecker:
    """Validates chunks of rows against a ``MessageSpec``.

    :param spec: how rows become messages.
    """

    def __init__(self, spec: MessageSpec) -> None:
        spec.check()
        self.spec = spec
        self.rules = spec.rules
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
        spec, rules = self.spec, self.rules
        data = {c: chunk[c].tolist() for c in self.columns}
        mobiles = data[spec.mobile_column]
        exts = data[spec.ext_column] if spec.ext_column else None
        ids = data[spec.msg_id_column] if spec.msg_id_column else None
        for i, raw_mobile in enumerate(mobiles):
            row = first_row + i
            try:
                mobile = normalize_mobile(raw_mobile)
                content = rules.row_content(spec, data, i, self._render)
                ext = spec.ext
                if exts is not None and not missing(exts[i]):
                    ext = check_ext(as_text(exts[i]), spec.channel_number)
                msg_id = None
                if ids is not None:
                    msg_id = check_msg_id("" if missing(ids[i]) else as_text(ids[i]), "msg_id")
            except InvalidFieldError as exc:
                yield exc.problem.at_row(row)
                continue
            yield Message(row, mobile, content, ext, msg_id, rules.segments(spec, content))

    def check(
        self, chunk: pd.DataFrame, first_row: int
    ) -> tuple[Messages, list[ValidationProblem]]:
        """The chunk's valid messages, column by column, and the problems of the others.

        Columns are checked whole first (``columnwise``: the usual all-valid chunk costs well
        under a microsecond a row); a chunk that fails that is checked row by row.
        """
        self._require_columns(chunk)
        valid = self.rules.arrow_messages(self.spec, chunk, first_row)
        if valid is not None:
            return valid, []
        data = {c: chunk[c].tolist() for c in self.columns}
        valid = self._valid_lists(data, first_row)
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

    def _valid_lists(self, data: dict[str, list[Any]], first_row: int) -> Messages | None:
        """The messages of a chunk given as Python lists, if every row is valid as it
        stands (whole columns checked at once)."""
        spec = self.spec
        mobiles = columnwise.mobiles(data[spec.mobile_column])
        if mobiles is None:
            return None
        n = len(mobiles)
        texts = self.rules.column_contents(spec, data, n, self._render)
        if texts is None:
            return None
        contents, segments = texts
        exts: list[str] | None = [spec.ext] * n
        if spec.ext_column:
            room = MAX_CALLER_ID_DIGITS - len(spec.channel_number)
            exts = columnwise.exts(data[spec.ext_column], spec.ext, room)
        ids: list[str | None] | None = [None] * n
        if spec.msg_id_column:
            ids = columnwise.msg_ids(data[spec.msg_id_column])
        if exts is None or ids is None:
            return None
        return Messages(range(first_row, first_row + n), mobiles, contents, exts, ids, segments)

    def _render(self, data: dict[str, list[Any]], i: int) -> str:
        values = {}
        for name in self.fields:
            value = data[name][i]
            if missing(value):
                raise InvalidFieldError(name, "template field is empty in this row")
            values[name] = value
        try:
            return (self.spec.template or "").format_map(values)
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise InvalidFieldError("template", f"cannot be rendered: {exc}") from None
