"""The one way dates are written for people, in the admin and anywhere Django formats a date
without being told how: "3 Dec 2026" and "3 Dec 2026, 14:05" (UTC). Input formats stay
Django's own for English."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "M Y"
TIME_FORMAT = "H:i"
