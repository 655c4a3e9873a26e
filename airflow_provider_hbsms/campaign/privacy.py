"""Showing recipients' data in logs, errors and XCom only as much as needed: counts, and
numbers masked as ``139****0001``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_hbsms.exceptions import ValidationProblem

if TYPE_CHECKING:
    from collections.abc import Iterable


def mask_number(value: str) -> str:
    """A phone number with its middle hidden: ``13900000001`` -> ``139****0001``; shorter
    values are hidden whole."""
    if len(value) >= 8:
        return f"{value[:3]}****{value[-4:]}"
    return "*" * len(value)


def mask_value(field: str, value: str, number_fields: Iterable[str]) -> str:
    """``value`` as logs may show it: numbers masked, any other text (names, amounts, message
    texts) replaced by its length."""
    if not value:
        return value
    if field in number_fields:
        return mask_number(value)
    return f"<{len(value)} characters>"


def masked_problem(problem: ValidationProblem, number_fields: Iterable[str]) -> ValidationProblem:
    """``problem`` with its value masked (row, field and rule kept)."""
    return ValidationProblem(
        problem.field,
        problem.rule,
        mask_value(problem.field, problem.value, tuple(number_fields)),
        problem.row,
    )
