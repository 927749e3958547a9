"""E-mail backends for tests, chosen with `settings.EMAIL_BACKEND = "tests.support.mail.…"`.

`FailingEmailBackend` keeps what it sends in `django.core.mail.outbox`, like Django's locmem
backend, but raises a chosen exception for the next N messages, as a mail server that drops
the connection, answers 4xx or refuses a recipient would. It also counts the connections it
opens, the way Django's SMTP backend opens them (`send_messages` opens one unless the caller
opened it, and closes what it opened), and can run something while each message is being
sent (`meanwhile`: a slow relay's clock moving on, a scheduler or another worker running).

Its configuration lives on the class (a delivery makes new backend instances): set it with
`fail_next`, and reset it between tests with `reset` (the tests' fixture does both).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.mail.backends.locmem import EmailBackend


class FailingEmailBackend(EmailBackend):
    """locmem, whose next `failures` messages raise `error` instead of being sent."""

    error: Exception | None = None
    failures: int = 0
    refused: list = []  # the messages it raised for, in order
    connections: int = 0  # opened so far, by every instance
    meanwhile: Callable[[], None] | None = None  # run while each message is being sent

    @classmethod
    def fail_next(cls, failures: int, error: Exception) -> None:
        cls.failures, cls.error = failures, error

    @classmethod
    def reset(cls) -> None:
        cls.failures, cls.error, cls.refused = 0, None, []
        cls.connections, cls.meanwhile = 0, None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_open = False

    def open(self) -> bool:
        if self.is_open:
            return False
        self.is_open = True
        FailingEmailBackend.connections += 1
        return True

    def close(self) -> None:
        self.is_open = False

    def send_messages(self, messages) -> int:
        opened = self.open()
        try:
            return sum(self._send(message) for message in messages)
        finally:
            if opened:
                self.close()

    def _send(self, message) -> int:
        cls = FailingEmailBackend
        if cls.meanwhile is not None:
            cls.meanwhile()
        if cls.failures > 0:
            cls.failures -= 1
            cls.refused.append(message)
            raise cls.error
        return super().send_messages([message])
