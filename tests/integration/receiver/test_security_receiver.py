"""The receiver under attack, as a process on loopback: forged addresses, the token kept out of
its log, silent sockets, dripping bodies and connection caps (its access rules in process are
in tests/unit/receiver/test_access.py)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_hbsms.protocol import Report, build_reports_xml

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


TOKEN = "s3cret-receiver-token-for-tests"
BODY = build_reports_xml([Report("13800000001", "sec-1")])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """``hbsms-receiver`` in a subprocess on loopback, its stderr kept for inspection."""

    def __init__(self, tmp_path: Path, *args: str, nofile: int | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"receiver-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "airflow_provider_hbsms.receiver.cli",
            "--port",
            str(self.port),
            "--store-url",
            f"sqlite:///{tmp_path / 'receiver.db'}",
            *args,
        ]

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        env = {**os.environ, "HBSMS_RECEIVER_TOKEN": TOKEN}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=limit
            )
        for _ in range(400):
            try:
                requests.get(f"{self.url}/hbsms/health", timeout=0.5)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"receiver did not start: {self.log_path.read_text()}")

    def push(self, token: str = TOKEN, **kwargs: object) -> requests.Response:
        return requests.post(f"{self.url}/hbsms/{token}/reports", data=BODY, timeout=10, **kwargs)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def receiver_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Receiver] = []

    def start(*args: str, nofile: int | None = None) -> Receiver:
        receiver = Receiver(tmp_path, *args, nofile=nofile)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


# ------------------------------------------------------------------ addresses and the token


def test_uvicorn_does_not_let_a_loopback_caller_pick_its_address(receiver_factory) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default: not here."""
    receiver = receiver_factory("--allowed-ips", "203.0.113.0/24")
    forged = receiver.push(headers={"X-Forwarded-For": "203.0.113.7"})
    assert (forged.status_code, forged.text) == (404, "9")


def test_the_rightmost_untrusted_hop_is_the_caller(receiver_factory) -> None:
    receiver = receiver_factory("--allowed-ips", "203.0.113.0/24", "--trusted-proxies", "127.0.0.1")
    # The caller wrote the first entry; our proxy appended the address it saw.
    prepended = receiver.push(headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
    assert (prepended.status_code, prepended.text) == (404, "9")
    honest = receiver.push(headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    assert (honest.status_code, honest.text) == (200, "0")


def test_the_token_never_reaches_the_standalone_log(receiver_factory) -> None:
    receiver = receiver_factory("--allowed-ips", "127.0.0.1")
    assert receiver.push().text == "0"
    assert receiver.push(token=TOKEN + "x").status_code == 404
    bad = requests.post(f"{receiver.url}/hbsms/{TOKEN}/reports", data=b"<x", timeout=10)
    assert bad.status_code == 400
    receiver.stop()
    output = receiver.output()
    assert "refused" in output  # something was logged ...
    assert TOKEN not in output  # ... but never the token


# ------------------------------------------------------------------ connections and time


def _silent_sockets(port: int, count: int, source: str) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        sockets.append(s)
    return sockets


def test_silent_sockets_cannot_exhaust_descriptors(receiver_factory) -> None:
    receiver = receiver_factory("--header-timeout", "30", nofile=256)
    held = _silent_sockets(receiver.port, 300, "127.0.0.2")
    try:
        time.sleep(0.5)  # let the server accept them all
        for _ in range(5):
            response = receiver.push()
            assert (response.status_code, response.text) == (200, "0")
    finally:
        for s in held:
            s.close()
    assert receiver.process.poll() is None


def test_an_unfinished_request_head_is_closed(receiver_factory) -> None:
    receiver = receiver_factory("--header-timeout", "1")
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as half:
        half.sendall(b"POST /hbsms/")  # half a request line, then nothing
        started = time.monotonic()
        assert half.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 5
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as silent:
        started = time.monotonic()
        assert silent.recv(100) == b""
        assert time.monotonic() - started < 5
    assert receiver.push().text == "0"


def test_large_pushes_pass_and_an_oversized_head_is_refused(receiver_factory) -> None:
    receiver = receiver_factory()
    large = build_reports_xml([Report(f"138{i:08d}", f"big-{i}") for i in range(100)])
    assert len(large) > 16 * 1024  # more than a head may hold, sent with the head
    answer = requests.post(f"{receiver.url}/hbsms/{TOKEN}/reports", data=large, timeout=10)
    assert (answer.status_code, answer.text) == (200, "0")
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as bloated:
        bloated.sendall(b"GET /hbsms/health HTTP/1.1\r\nX-Pad: " + b"a" * 20000)
        assert bloated.recv(100).startswith(b"HTTP/1.1 431")


def test_a_dripping_body_is_cut_off(receiver_factory) -> None:
    receiver = receiver_factory("--body-timeout", "1")
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as drip:
        head = (
            f"POST /hbsms/{TOKEN}/reports HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        ).encode()
        drip.sendall(head + BODY[:10])
        started = time.monotonic()
        answer = b""
        while chunk := drip.recv(1000):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 5


def test_connections_are_capped_per_address(receiver_factory) -> None:
    receiver = receiver_factory("--max-connections-per-address", "4", "--header-timeout", "30")
    held = _silent_sockets(receiver.port, 4, "127.0.0.3")
    try:
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as other:
            other.close()
        extra = socket.socket()
        extra.bind(("127.0.0.3", 0))
        extra.settimeout(5)
        extra.connect(("127.0.0.1", receiver.port))
        answer = extra.recv(200)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503")
        assert receiver.push().text == "0"  # another address is not held back
    finally:
        for s in held:
            s.close()


def test_connections_are_capped_in_all(receiver_factory) -> None:
    receiver = receiver_factory("--max-connections", "8", "--header-timeout", "30")
    held = [
        *_silent_sockets(receiver.port, 4, "127.0.0.4"),
        *_silent_sockets(receiver.port, 4, "127.0.0.5"),
    ]
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as extra:
            assert extra.recv(200).startswith(b"HTTP/1.1 503")
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert receiver.push().text == "0"
