"""The root of the exception tree, and how every exception of the tree pickles."""

from __future__ import annotations

from typing import Any


def _restore(cls: type[HbSmsError], args: tuple[Any, ...], fields: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(fields)
    return error


class HbSmsError(Exception):
    """Root of every error raised by this provider.

    Pickled as its message and fields, without calling ``__init__`` again: a subclass's
    constructor arguments need not be its fields, and nothing is redacted or dated twice.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))
