"""A real SMTP server for tests and benchmarks: aiosmtpd on 127.0.0.1, recording what it takes.

    with SmtpServer(delay=3) as smtp:           # or the `smtp_server` fixture
        worker_env["EMAIL_URL"] = smtp.email_url
        ...
        smtp.wait_for(300, timeout=60)
        assert max(smtp.counts().values()) == 1

It can be slow (`delay` seconds before answering each message, as a loaded relay would), refuse
a recipient for good or for now (`refuse(address, 550)`, answered at RCPT), and answer the next
messages with a chosen code (`fail_next(1, 451)`, answered at the end of DATA). A message
counts as received when the server answers 250 to it, after the delay: a client that died
while waiting still had its message taken, as with a real server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Received:
    recipient: str
    subject: str
    at: float  # time.monotonic() when the server answered 250


@dataclass(frozen=True, slots=True)
class Refused:
    recipient: str
    answer: str
    at: float


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _subject(content: bytes) -> str:
    raw = message_from_bytes(content).get("Subject", "")
    return str(make_header(decode_header(raw)))


class RecordingHandler:
    """aiosmtpd handler: every hook runs on the server's event loop thread; the records are
    read from the test's thread, hence the lock."""

    def __init__(self, *, delay: float = 0.0):
        self.delay = delay
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._refused: list[Refused] = []
        self._answers: deque[str] = deque()  # the next DATA answers instead of 250
        self._refused_recipients: dict[str, str] = {}
        self._connections = 0

    # --- hooks ---------------------------------------------------------------------------

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self._lock:
            self._connections += 1
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        with self._lock:
            self._connections += 1
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self._lock:
            answer = self._refused_recipients.get(address.lower())
            if answer:
                self._refused.append(Refused(address, answer, time.monotonic()))
                return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        now = time.monotonic()
        with self._lock:
            if self._answers:
                answer = self._answers.popleft()
                self._refused.extend(Refused(r, answer, now) for r in envelope.rcpt_tos)
                return answer
            subject = _subject(envelope.original_content or envelope.content)
            self._received.extend(Received(r, subject, now) for r in envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    # --- steering --------------------------------------------------------------------------

    def fail_next(self, count: int, code: int = 451, text: str = "") -> None:
        """Answer the next `count` messages (at the end of DATA) with `code` instead of 250."""
        if not 400 <= code < 600:
            raise ValueError("code must be 4xx or 5xx")
        text = text or ("Try again later" if code < 500 else "Message refused")
        with self._lock:
            self._answers.extend([f"{code} {text}"] * count)

    def refuse(self, address: str, code: int = 550, text: str = "") -> None:
        """Answer RCPT TO `address` with `code` from now on (until `accept(address)`)."""
        if not 400 <= code < 600:
            raise ValueError("code must be 4xx or 5xx")
        text = text or ("Mailbox busy, try later" if code < 500 else "No such user here")
        with self._lock:
            self._refused_recipients[address.lower()] = f"{code} {text}"

    def accept(self, address: str) -> None:
        with self._lock:
            self._refused_recipients.pop(address.lower(), None)

    # --- reading ---------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def refused(self) -> list[Refused]:
        with self._lock:
            return list(self._refused)

    @property
    def connections(self) -> int:
        """SMTP sessions opened so far (one EHLO or HELO each)."""
        with self._lock:
            return self._connections

    def count(self) -> int:
        with self._lock:
            return len(self._received)

    def counts(self) -> Counter:
        """Messages received per recipient."""
        with self._lock:
            return Counter(message.recipient for message in self._received)


class SmtpServer:
    """An aiosmtpd Controller on 127.0.0.1 and a free port with a `RecordingHandler`; a
    context manager (the server runs in its own thread)."""

    def __init__(self, *, delay: float = 0.0, smtputf8: bool = False):
        self.handler = RecordingHandler(delay=delay)
        self.port = _free_port()
        # A slow server must not time out our client's session on its own. `smtputf8`:
        # whether it offers RFC 6531's SMTPUTF8 (internationalised addresses).
        self.controller = Controller(
            self.handler,
            hostname=HOST,
            port=self.port,
            timeout=600,
            enable_SMTPUTF8=smtputf8,
            decode_data=False,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.controller.stop()

    start = __enter__

    def stop(self) -> None:
        self.controller.stop()

    @property
    def email_url(self) -> str:
        """For `EMAIL_URL` (config/settings.py reads it with django-environ)."""
        return f"smtp://{HOST}:{self.port}"

    # The handler's steering and records, at hand.
    @property
    def delay(self) -> float:
        return self.handler.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.handler.delay = seconds

    def fail_next(self, count: int, code: int = 451, text: str = "") -> None:
        self.handler.fail_next(count, code, text)

    def refuse(self, address: str, code: int = 550, text: str = "") -> None:
        self.handler.refuse(address, code, text)

    def accept(self, address: str) -> None:
        self.handler.accept(address)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def refused(self) -> list[Refused]:
        return self.handler.refused

    @property
    def connections(self) -> int:
        return self.handler.connections

    def count(self) -> int:
        return self.handler.count()

    def counts(self) -> Counter:
        return self.handler.counts()

    def wait_for(self, count: int, *, timeout: float) -> bool:
        """Whether `count` messages were received within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


@pytest.fixture
def smtp_server():
    """A recording SMTP server (no delay; set `smtp_server.delay` to slow it down)."""
    with SmtpServer() as server:
        yield server
