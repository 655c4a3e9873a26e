"""The gateway's 200 ms spacing of balance and pull calls, shared across processes.

The gateway refuses a balance or pull call made within 200 ms of the previous one of the same
account (``104`` / ``-19``). Several Airflow workers, a sensor in the triggerer and a collector
may all poll one account, so the last call's start time lives in a small file guarded by
``flock``: every process on the machine that uses the same directory takes its turn. Processes
on other machines cannot be paced this way; the client treats ``-19`` as "wait and try again".
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import struct
import tempfile
import time
from pathlib import Path

from airflow_provider_hbsms.protocol.endpoints import PACING_INTERVAL

#: Spacing used by default: the protocol's 200 ms plus a margin for clock and network jitter.
DEFAULT_INTERVAL = PACING_INTERVAL + 0.01
_STAMP = struct.Struct("<d")


def default_pacing_dir() -> Path:
    """Where pacing files live: ``$HBSMS_PACING_DIR`` or the system temp directory."""
    return Path(os.environ.get("HBSMS_PACING_DIR") or tempfile.gettempdir()) / "hbsms-pacing"


class AccountPacer:
    """Spaces calls that share ``key`` (account + endpoint family) by ``interval`` seconds.

    :param key: what is paced together, e.g. ``"http://gw:8080|corp|reports"``.
    :param interval: minimum seconds between the starts of two calls.
    :param directory: where the pacing file lives; processes sharing it share the pacing.
    """

    def __init__(
        self, key: str, interval: float = DEFAULT_INTERVAL, directory: Path | None = None
    ) -> None:
        self.key = key
        self.interval = interval
        folder = directory or default_pacing_dir()
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        self.path = folder / f"{digest}.pace"

    def _claim(self, fd: int) -> float:
        """With the lock held: 0 and the turn taken if it is ours, else seconds to wait."""
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, _STAMP.size)
        last = _STAMP.unpack(raw)[0] if len(raw) == _STAMP.size else 0.0
        now = time.time()
        wait = last + self.interval - now
        if wait > 0 and wait <= self.interval:  # a stamp in the future beyond that: clock jump
            return wait
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, _STAMP.pack(now))
        return 0.0

    def wait_turn(self) -> None:
        """Block until this process may make the next call, and take the turn."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            while (wait := self._claim(fd)) > 0:
                time.sleep(wait)
        finally:
            os.close(fd)  # closing releases the lock

    async def await_turn(self) -> None:
        """Like ``wait_turn`` without ever blocking the event loop."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    wait = 0.01
                else:
                    wait = self._claim(fd)
                    if wait <= 0:
                        return
            finally:
                os.close(fd)
            await asyncio.sleep(wait)
