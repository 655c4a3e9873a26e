"""An in-memory stand-in for ``HbSmsClient``, and a way to put it behind ``HbSmsHook``.

For unit tests of DAGs and tasks that use the provider's operators and sensors: nothing is
sent, no socket is opened, and the test can read what would have been sent and hand back
delivery reports and replies.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from unittest import mock

from airflow_provider_hbsms.protocol.endpoints import (
    MAX_REPLIES_PER_BODY,
    MAX_REPORTS_PER_BODY,
    Endpoint,
)
from airflow_provider_hbsms.protocol.forms import decode_form, split_send_param
from airflow_provider_hbsms.protocol.models import Credentials, Reply, Report, SendResult
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml, build_reports_xml

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence


@dataclass(frozen=True, slots=True)
class FakeMessage:
    """A message the fake gateway accepted.

    :param mobile: the number.
    :param msg_id: its message id (``corp_msg_id`` of a same-content send).
    :param ext: the ext it was sent with.
    :param content: its text.
    """

    mobile: str
    msg_id: str
    ext: str
    content: str


class FakeHbSmsClient:
    """Accepts every send, answers balance and pull calls from memory.

    :param corp_id: the account id (the password is a dummy).
    :param corp_service: the service code.
    :param balance: what ``get_balance`` answers.
    :param channel_number: the account's channel number.
    :param signature: the account's signature.
    """

    def __init__(
        self,
        corp_id: str = "test",
        corp_service: str = "svc",
        balance: Decimal | int | str = Decimal("1000000"),
        channel_number: str = "10657",
        signature: str = "",
    ) -> None:
        self.credentials = Credentials(corp_id, "fake-password", corp_service)
        self.balance = Decimal(str(balance))
        self.channel_number = channel_number
        self.signature = signature
        #: Every accepted message, in order.
        self.messages: list[FakeMessage] = []
        #: ``(endpoint path, messages)`` of every send request, in order.
        self.requests: list[tuple[str, int]] = []
        self._reports: list[Report] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()  # the send operators post from several lanes

    # ------------------------------------------------------------------ the client's API

    def send_body(
        self, endpoint: Endpoint, body: bytes, submitted: int, corp_msg_id: str = ""
    ) -> SendResult:
        """Record a prepared send body's messages; every one is accepted."""
        form = decode_form(body)
        if endpoint is Endpoint.SEND:
            ext, content = form.get("ext", ""), form.get("msg_content", "")
            msg_id = form.get("corp_msg_id", corp_msg_id)
            sent = [
                FakeMessage(m, msg_id, ext, content) for m in form.get("mobile", "").split(",") if m
            ]
        else:
            sent = [FakeMessage(*item) for item in split_send_param(form.get("send_param", ""))]
        with self._lock:
            self.messages.extend(sent)
            self.requests.append((endpoint.path, len(sent)))
        return SendResult(endpoint, submitted, len(sent), corp_msg_id)

    def send(
        self, mobiles: Sequence[str], content: str, corp_msg_id: str, ext: str = ""
    ) -> SendResult:
        with self._lock:
            self.messages.extend(FakeMessage(m, corp_msg_id, ext, content) for m in mobiles)
            self.requests.append((Endpoint.SEND.path, len(mobiles)))
        return SendResult(Endpoint.SEND, len(mobiles), len(mobiles), corp_msg_id)

    def send_personalized(self, items: Sequence[Any]) -> SendResult:
        with self._lock:
            self.messages.extend(FakeMessage(i.mobile, i.msg_id, i.ext, i.content) for i in items)
            self.requests.append((Endpoint.PERSONALIZED_SEND.path, len(items)))
        return SendResult(Endpoint.PERSONALIZED_SEND, len(items), len(items))

    def get_balance(self) -> Decimal:
        return self.balance

    def fetch_reports(self) -> list[Report]:
        with self._lock:
            taken, self._reports = (
                self._reports[:MAX_REPORTS_PER_BODY],
                self._reports[MAX_REPORTS_PER_BODY:],
            )
        return taken

    def fetch_replies(self) -> list[Reply]:
        with self._lock:
            taken, self._replies = (
                self._replies[:MAX_REPLIES_PER_BODY],
                self._replies[MAX_REPLIES_PER_BODY:],
            )
        return taken

    def pull_raw(self, endpoint: Endpoint) -> bytes | None:
        """One pull's body as the gateway would hand it over; None when nothing waits."""
        if endpoint is Endpoint.PULL_REPORTS:
            reports = self.fetch_reports()
            return build_reports_xml(reports) if reports else None
        replies = self.fetch_replies()
        return build_replies_xml(replies) if replies else None

    def pace_with(self, engine: Any) -> None:
        """Nothing to pace: no gateway counts the calls."""

    def close(self) -> None:
        """Nothing to close."""

    # ------------------------------------------------------------------ the test's side

    def deliver(self, failed: Mapping[str, str] | None = None) -> int:
        """Queue a delivery report for every message sent so far and not reported yet.

        :param failed: numbers whose message fails, with the carrier's code (``"DB:0141"``).
        :returns: how many reports were queued.
        """
        failed = failed or {}
        with self._lock:
            reported = getattr(self, "_reported", 0)
            new = self.messages[reported:]
            self._reported = len(self.messages)
            self._reports += [
                Report(
                    m.mobile,
                    m.msg_id,
                    0,
                    failed.get(m.mobile, "0"),
                    "failed" if m.mobile in failed else "",
                    corp_id=self.credentials.corp_id,
                )
                for m in new
            ]
        return len(new)

    def reply(self, mobile: str, content: str, ext: str = "") -> None:
        """Queue a reply from ``mobile`` (to ``ext``) for the next reply pull."""
        with self._lock:
            self._replies.append(Reply(mobile, content, ext, corp_id=self.credentials.corp_id))

    def sent_to(self) -> list[str]:
        """The numbers sent to, in order."""
        return [m.mobile for m in self.messages]


@contextlib.contextmanager
def mock_hbsms_hook(client: FakeHbSmsClient | None = None) -> Iterator[FakeHbSmsClient]:
    """Every ``HbSmsHook`` uses ``client`` (a new ``FakeHbSmsClient`` by default) while the
    block runs: no connection needs to exist, nothing leaves the process.

    >>> with mock_hbsms_hook() as gateway:
    ...     result = send_task.execute(context)
    ...     assert len(gateway.messages) == 40
    """
    from airflow_provider_hbsms.hooks.hbsms import HbSmsHook

    fake = client or FakeHbSmsClient()
    values = {
        "client": fake,
        "credentials": fake.credentials,
        "channel_number": fake.channel_number,
        "signature": fake.signature,
    }
    with contextlib.ExitStack() as stack:
        for name, value in values.items():
            stack.enter_context(
                mock.patch.object(
                    HbSmsHook, name, new_callable=mock.PropertyMock, return_value=value
                )
            )
        yield fake
