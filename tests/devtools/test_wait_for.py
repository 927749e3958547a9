"""What `make run` starts with: `devtools/wait_for.py` returns as soon as the Stripe stand-in
listens (it used to make 50 connections whatever happened, 2-8 s), and a stand-in given a port
in use says what to do instead of a traceback."""

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


def test_the_stand_in_on_a_port_in_use_says_what_to_do(settings):
    import pytest
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.DEBUG = True
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Port {port} is already in use"):
            call_command("stripe_standin", "--port", str(port))
