"""A gateway stand-in that answers at once (or after a fixed latency) without parsing bodies.

Run as a subprocess by the benchmarks: ``python benchmarks/_standin.py [latency_ms]``; prints
its URL. It reads ``total_count`` (personalized) or counts numbers (same-content) and answers
``0#N``, so the measured side is the client alone.

One thread per connection waiting with ``time.sleep``, which keeps to the set latency within
tens of microseconds. An asyncio loop waits in whole milliseconds of ``epoll`` and answered
0.6-0.7 ms late on average, which is 2% of a 30 ms latency that the ceiling does not count.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time

_TOTAL = re.compile(rb"total_count=(\d+)")


def _answer(body: bytes) -> bytes:
    match = _TOTAL.search(body)
    if match:
        count = int(match.group(1))
    else:
        mobiles = body.split(b"mobile=", 1)[1].split(b"&", 1)[0] if b"mobile=" in body else b""
        count = mobiles.count(b"%2C") + 1 if mobiles else 0
    return f"0#{count}".encode()


def _serve(connection: socket.socket, latency: float) -> None:
    """Answer requests on one keep-alive connection until the client closes it."""
    stream = connection.makefile("rb")
    with connection, stream:
        while stream.readline():  # the request line; empty when the client closed
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"expect" and value.strip().lower() == b"100-continue":
                    connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = stream.read(length)
            if latency:
                time.sleep(latency)
            answer = _answer(body)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
            )


def main(latency: float) -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=512)
    print(f"http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        connection, _ = listener.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve, args=(connection, latency), daemon=True).start()


if __name__ == "__main__":
    main(float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0)
