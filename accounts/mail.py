"""Sending to internationalised addresses: Django's SMTP backend, with SMTPUTF8.

Django MIME-encodes a non-ASCII local part, which no mail server delivers. Here a message to
such an address goes out with the SMTPUTF8 extension (RFC 6531): the address as it is, its
domain in punycode. A server without SMTPUTF8 refuses it for good (553), so the e-mail fails
with that reason instead of being retried for nothing.
"""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address


def envelope_address(address: str, encoding: str) -> str:
    """The address for MAIL FROM / RCPT TO: Django's for ASCII, else UTF-8 local part and
    punycode domain."""
    if address.isascii():
        return sanitize_address(address, encoding)
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


class SmtpUtf8EmailBackend(EmailBackend):
    def _send(self, email_message) -> bool:
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        sender = sanitize_address(email_message.from_email, encoding)
        recipients = [envelope_address(address, encoding) for address in email_message.recipients()]
        message = email_message.message()
        options = []
        if not all(address.isascii() for address in recipients):
            self.connection.ehlo_or_helo_if_needed()  # the server's extensions are known after
            if not self.connection.has_extn("smtputf8"):
                raise smtplib.SMTPRecipientsRefused(
                    {
                        address: (553, b"the mail server does not take SMTPUTF8 addresses")
                        for address in recipients
                        if not address.isascii()
                    }
                )
            options = ["SMTPUTF8"]
        try:
            self.connection.sendmail(
                sender, recipients, message.as_bytes(linesep="\r\n"), mail_options=options
            )
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True
