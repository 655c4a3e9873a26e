"""Turning input rows into messages, naming the row, field and rule of every bad one."""

from __future__ import annotations

import itertools
import math
import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from airflow_provider_hbsms.protocol.endpoints import (
    FIELD_SEPARATOR,
    ITEM_SEPARATOR,
    MAX_CALLER_ID_DIGITS,
    MAX_CONTENT_LENGTH,
    MAX_MSG_ID_LENGTH,
    WIRE_ENCODING,
)
from airflow_provider_hbsms.protocol.errors import (
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


class Message(NamedTuple):
    """One validated message of a campaign (a named tuple: millions are made per campaign).

    :param row: its input row (0-based).
    :param mobile: the normalized number.
    :param content: the text (for same-content campaigns, the campaign's text).
    :param ext: the ext.
    :param msg_id: the id given in the input, or None to generate one.
    :param segments: billed segments (signature included).
    """

    row: int
    mobile: str
    content: str
    ext: str
    msg_id: str | None
    segments: int


@dataclass(slots=True)
class Messages:
    """Validated messages column by column: a campaign holds millions, so no object each.

    :param rows: input rows (0-based).
    :param mobiles: normalized numbers.
    :param contents: texts.
    :param exts: exts.
    :param msg_ids: ids given in the input, or None to generate one.
    :param segments: billed segments of each.
    """

    rows: list[int]
    mobiles: list[str]
    contents: list[str]
    exts: list[str]
    msg_ids: list[str | None]
    segments: list[int]

    def __len__(self) -> int:
        return len(self.rows)

    def _columns(self) -> tuple[list[Any], ...]:
        return (self.rows, self.mobiles, self.contents, self.exts, self.msg_ids, self.segments)

    def where(self, keep: list[bool]) -> Messages:
        """The messages whose ``keep`` is true."""
        return Messages(*(list(itertools.compress(c, keep)) for c in self._columns()))

    def slice(self, start: int, stop: int) -> Messages:
        return Messages(*(c[start:stop] for c in self._columns()))

    @classmethod
    def of(cls, messages: list[Message]) -> Messages:
        """From messages checked one by one."""
        if not messages:
            return cls([], [], [], [], [], [])
        return cls(*(list(column) for column in zip(*messages, strict=True)))

    @classmethod
    def concat(cls, parts: list[Messages]) -> Messages:
        if len(parts) == 1:
            return parts[0]
        return cls(
            *(
                list(itertools.chain.from_iterable(c))
                for c in zip(*(p._columns() for p in parts), strict=True)
            )
        )


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


# Whole columns joined by newlines (which no valid value contains), checked in one match.
_MOBILES = re.compile(r"(?:1[3-9][0-9]{9}\n)*1[3-9][0-9]{9}")
_EXTS = re.compile(r"[0-9]*(?:\n[0-9]*)*")
_MSG_IDS = re.compile(rf"(?:[!-%'-~]{{1,{MAX_MSG_ID_LENGTH}}}\n)*[!-%'-~]{{1,{MAX_MSG_ID_LENGTH}}}")


def _as_text(values: list[Any], numbers: bool = True) -> list[str] | None:
    """The column as strings when it is all strings (or, with ``numbers``, all integers)."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return values
    if numbers and kinds == {int}:
        return list(map(str, values))
    return None


def _contents_valid(texts: list[str]) -> bool:
    """Every text obeys ``check_content(..., personalized=True)``."""
    if not texts:
        return True
    if min(map(len, texts)) == 0 or max(map(len, texts)) > MAX_CONTENT_LENGTH:
        return False
    if any(map(str.isspace, texts)):
        return False
    joined = "\x00".join(texts)  # no separator can span two texts across the NUL
    if FIELD_SEPARATOR in joined or ITEM_SEPARATOR in joined:
        return False
    try:
        joined.encode(WIRE_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


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
        """The chunk's valid messages, column by column, and the problems of the others."""
        self._require_columns(chunk)
        data = {c: chunk[c].tolist() for c in self.columns}
        valid = self._all_valid(data, first_row)
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

    def _all_valid(self, data: dict[str, list[Any]], first_row: int) -> Messages | None:
        """The chunk's messages when every row is valid as it stands, checked column by column
        (each rule once over the whole column, in C); None to check row by row instead, which
        names each bad row's field and rule."""
        spec = self.spec
        mobiles = _as_text(data[spec.mobile_column])
        if mobiles is None or not _MOBILES.fullmatch("\n".join(mobiles)):
            return None
        rows = range(first_row, first_row + len(mobiles))
        if spec.kind == "bulk":
            contents: list[str] = [spec.content or ""] * len(mobiles)
        elif spec.content_column:
            texts = _as_text(data[spec.content_column], numbers=False)
            if texts is None or not _contents_valid(texts):
                return None
            contents = texts
        else:
            try:
                contents = [self._render(data, i) for i in range(len(mobiles))]
            except InvalidFieldError:
                return None
            if not _contents_valid(contents):
                return None
        exts: list[str] = [spec.ext] * len(mobiles)
        if spec.ext_column:
            given = _as_text(data[spec.ext_column])
            room = MAX_CALLER_ID_DIGITS - len(spec.channel_number)
            if given is None or not _EXTS.fullmatch("\n".join(given)):
                return None
            if max(map(len, given), default=0) > room:
                return None
            exts = [e or spec.ext for e in given]
        ids: list[str | None] = [None] * len(mobiles)
        if spec.msg_id_column:
            given = _as_text(data[spec.msg_id_column])
            if given is None or not _MSG_IDS.fullmatch("\n".join(given)):
                return None
            ids = list(given)
        if spec.kind == "bulk":
            segments = [count_segments(spec.content or "", spec.signature)] * len(mobiles)
        else:
            segments = [count_segments(c, spec.signature) for c in contents]
        return Messages(list(rows), mobiles, contents, exts, ids, segments)

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
