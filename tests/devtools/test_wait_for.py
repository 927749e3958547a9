"""`devtools/wait_for.py`, which `make run` uses to wait for the Stripe stand-in: it returns as
soon as the port listens (it used to make 50 connections whatever happened, 2-8 s)."""

import socket
import time

from devtools.wait_for import wait_for


def test_returns_at_once_when_the_port_listens_and_false_when_nothing_does():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        started = time.monotonic()
        assert wait_for(port, 5) is True
        assert time.monotonic() - started < 1
    started = time.monotonic()
    assert wait_for(port, 0.3) is False
    assert 0.3 <= time.monotonic() - started < 2
