"""Input refused before anything was sent: fields, input files, report and reply XML."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.exceptions.base import HbSmsError

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class ValidationProblem:
    """One rule one input broke.

    :param field: the field that broke it (``mobile``, ``content``, ``msg_id``, ``ext``, ...).
    :param rule: the rule, in words.
    :param value: the offending value, shortened for display.
    :param row: the input row (0-based position in the caller's input), when known.
    """

    field: str
    rule: str
    value: str = ""
    row: int | None = None

    def describe(self) -> str:
        where = f"row {self.row}: " if self.row is not None else ""
        shown = f" (got {self.value!r})" if self.value else ""
        return f"{where}{self.field}: {self.rule}{shown}"

    def at_row(self, row: int) -> ValidationProblem:
        return ValidationProblem(self.field, self.rule, self.value, row)


class HbSmsValidationError(HbSmsError, ValueError):
    """Input broke a protocol rule; nothing was sent.

    :param problems: what was wrong, row by row.
    :param total: how many problems there were in all (``problems`` may hold only the first ones).
    """

    MAX_LISTED = 10

    def __init__(self, problems: Sequence[ValidationProblem], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        listed = self.problems[: self.MAX_LISTED]
        more = self.total - len(listed)
        super().__init__(
            f"{self.total} invalid input(s), nothing sent: "
            + "; ".join(p.describe() for p in listed)
            + (f"; and {more} more" if more > 0 else "")
        )


class InvalidFieldError(HbSmsValidationError):
    """One field broke one rule.

    :param field: the field.
    :param rule: the rule, in words.
    :param value: the offending value.
    """

    def __init__(self, field: str, rule: str, value: object = "") -> None:
        shown = str(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        self.problem = ValidationProblem(field, rule, shown)
        super().__init__([self.problem])


class InputFileError(HbSmsError, ValueError):
    """An input file that cannot be read as what its name says.

    :param path: the file.
    :param problem: what is wrong, in words.
    """

    def __init__(self, path: Any, problem: str) -> None:
        super().__init__(f"input file {path}: {problem}")
        self.path = path
        self.problem = problem


class XmlBodyError(HbSmsError, ValueError):
    """A report or reply body that cannot be accepted."""


class UnsafeXmlError(XmlBodyError):
    """The body declares a DTD or entities: refused, never expanded."""


class MalformedXmlError(XmlBodyError):
    """The body is not well-formed XML of the expected shape."""
