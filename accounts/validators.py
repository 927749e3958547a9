"""E-mail addresses as customers really have them: RFC 6531 allows a UTF-8 local part
(`müller@…`, `用户@…`) and internationalised domain names (`…@exämple.de`), which Django's
`validate_email` refuses. Only what is truly malformed is refused here."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

# RFC 5322 atext, plus any non-ASCII character that is neither a control character nor
# white space (RFC 6531 UTF8-non-ascii), in dot-separated atoms.
_ATOM = r"(?:[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]|[^\x00-\x7f\x80-\x9f\s])+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")


class InternationalEmailValidator(EmailValidator):
    """Django's EmailValidator, but a UTF-8 local part is fine and the domain is checked in
    its ASCII (punycode) form."""

    def __call__(self, value) -> None:
        # 254: the longest address a mail path carries (RFC 5321), and our columns' length.
        if not isinstance(value, str) or value.count("@") < 1 or len(value) > 254:
            raise ValidationError(self.message, code=self.code, params={"value": value})
        local, domain = value.rsplit("@", 1)
        if value.isascii():
            super().__call__(value)
            return
        if not _LOCAL.fullmatch(local) or len(local.encode()) > 64:
            raise ValidationError(self.message, code=self.code, params={"value": value})
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValidationError(self.message, code=self.code, params={"value": value}) from None
        if not self.validate_domain_part(ascii_domain):
            raise ValidationError(self.message, code=self.code, params={"value": value})


validate_international_email = InternationalEmailValidator()
