"""Read a child's first stdout line with a deadline: a plain `readline()` can hang a test forever."""

from __future__ import annotations

import os
import selectors
import subprocess
import time


def first_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """The first line `proc` prints ("" when it exits first); TimeoutError after `timeout` s."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(left):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                return buf.decode()
            buf += chunk
            if b"\n" in buf:
                return buf.split(b"\n", 1)[0].decode() + "\n"
    proc.kill()
    raise TimeoutError(f"no line from {proc.args!r} in {timeout}s")
