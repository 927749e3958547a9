"""`python devtools/wait_for.py PORT [SECONDS]`: wait until something listens on 127.0.0.1:PORT
(`make run` waits so for the Stripe stand-in); exit 1 if nothing does within SECONDS (10)."""

from __future__ import annotations

import socket
import sys
import time


def wait_for(port: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


if __name__ == "__main__":
    port, seconds = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    if not wait_for(port, seconds):
        sys.exit(f"Nothing listens on 127.0.0.1:{port} after {seconds:g} s.")
