"""``MockTransport``: a ``Transport`` that answers from a script and records every request, for
unit tests of ``HbSmsClient`` (and of code built on it) without a socket or a server.

::

    transport = MockTransport([b"0#1", NotSent("refused"), (502, b"Bad Gateway")])
    client = HbSmsClient("http://gateway.test", credentials, transport=transport)

Each ``post`` takes the next answer: ``bytes`` (HTTP 200 with that body), a ``(status, body)``
pair, or an exception to raise, as a real transport fails: ``NotSent`` (nothing left),
``MaybeSent`` (it may have reached the gateway) or ``TooLarge`` (over the reply cap), all from
``airflow_provider_hbsms.transport``.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from airflow_provider_hbsms.protocol.forms import decode_form

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: One scripted answer: a 200 reply body, a ``(status, body)`` pair, or an exception to raise.
Answer: TypeAlias = "bytes | tuple[int, bytes] | BaseException"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the mock transport was given.

    :param path: the endpoint's path.
    :param body: the form body, as it would have been sent.
    :param headers: the request's headers.
    :param idempotent: False for a request that must not be repeated (a send).
    """

    path: str
    body: bytes
    headers: dict[str, str]
    idempotent: bool

    @property
    def form(self) -> dict[str, str]:
        """The body's fields, decoded from GBK."""
        return decode_form(self.body)


class MockTransport:
    """Answers each POST with the next scripted answer; records what it was asked.

    :param answers: the answers, in order.
    :param default: the answer once the script is used up (None: an ``AssertionError``, so a
        test notices a request it did not expect).
    """

    def __init__(self, answers: Iterable[Answer] = (), default: Answer | None = None) -> None:
        self._answers: deque[Answer] = deque(answers)
        self.default = default
        self.requests: list[RecordedRequest] = []
        self.closed = False
        self._lock = threading.Lock()  # the client may post from several threads

    def script(self, *answers: Answer) -> None:
        """Append answers to the script."""
        with self._lock:
            self._answers.extend(answers)

    def post(
        self, path: str, body: bytes, headers: Mapping[str, str], *, idempotent: bool = True
    ) -> tuple[int, str, bytes]:
        """Record the request and answer it from the script (see ``Transport.post``)."""
        with self._lock:
            self.requests.append(RecordedRequest(path, body, dict(headers), idempotent))
            if self._answers:
                answer = self._answers.popleft()
            elif self.default is not None:
                answer = self.default
            else:
                raise AssertionError(f"MockTransport: no answer scripted for POST {path}")
        if isinstance(answer, BaseException):
            raise answer
        status, content = (200, answer) if isinstance(answer, bytes) else answer
        return status, "OK" if status == 200 else "Error", content

    @property
    def paths(self) -> list[str]:
        """The path of every request, in order."""
        return [request.path for request in self.requests]

    def close(self) -> None:
        self.closed = True
