"""Shared helpers of the benchmarks: timing, CPU time, and the simulator in a subprocess."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol import Credentials, PersonalizedItem

if TYPE_CHECKING:
    from collections.abc import Callable

CORP_ID, PASSWORD, SERVICE = "bench", "bench-secret", "svc"
CREDENTIALS = Credentials(CORP_ID, PASSWORD, SERVICE)
SIMULATOR_ARGS = ("--no-record-content",)
#: The simulator's account, handed to its process in the environment (never on its command line).
SIMULATOR_ACCOUNTS = [
    {"corp_id": CORP_ID, "corp_pwd": PASSWORD, "services": [SERVICE], "balance": "1e12"}
]


@dataclass
class Measurement:
    """Wall and CPU seconds of one run over ``messages`` messages."""

    name: str
    messages: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.wall

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu / self.messages * 1e6

    def line(self) -> str:
        return (
            f"{self.name:<34} {self.rate:>10,.0f} msg/s  {self.cpu_us_per_message:>7.2f} µs CPU/msg"
        )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, messages: int, run: Callable[[], None]) -> Measurement:
    """Run ``run`` once and time it (wall clock and this process's CPU)."""
    cpu, wall = _cpu(), time.perf_counter()
    run()
    return Measurement(name, messages, time.perf_counter() - wall, _cpu() - cpu)


def chinese_items(count: int, offset: int = 0) -> list[PersonalizedItem]:
    """Personalized messages of Chinese text, about 40 characters each."""
    return [
        PersonalizedItem(
            f"13{(i % 7) + 3}{i % 100_000_000:08d}",
            f"b-{i}",
            f"尊敬的会员{i}号您好，您本月账户余额为{i % 1000}.50元，感谢使用【示例】",
        )
        for i in range(offset, offset + count)
    ]


def send_with_http_hook(items: list[PersonalizedItem], conn_id: str = "http_bench") -> None:
    """What users write without this provider: a GBK form per 200-message batch, posted with
    ``HttpHook.run`` (which looks its connection up and opens a session on every call)."""
    from urllib.parse import urlencode

    from airflow.providers.http.hooks.http import HttpHook

    for start in range(0, len(items), 200):
        batch = items[start : start + 200]
        send_param = "&group&".join(
            f"{i.mobile}&split&{i.msg_id}&split&&split&{i.content}" for i in batch
        )
        body = urlencode(
            {
                "corp_id": CREDENTIALS.corp_id,
                "corp_pwd": CREDENTIALS.corp_pwd,
                "corp_service": CREDENTIALS.corp_service,
                "total_count": len(batch),
                "send_param": send_param,
                "ctrl_param": 1,
            },
            encoding="gbk",
        )
        hook = HttpHook(method="POST", http_conn_id=conn_id)
        response = hook.run(
            "/hSmsSend.do",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=gbk"},
        )
        assert response.text.startswith("0#")
