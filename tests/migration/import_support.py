"""Helpers for the legacy import tests: write CSV files, run the command, read its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

CUSTOMER_HEADER = (
    "user_id,email,plan,price_cents,stripe_customer_id,stripe_subscription_id,created_at"
)
USAGE_HEADER = "user_id,month,total_minutes_used,total_sessions,successful_sessions"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_CUSTOMERS = SAMPLES / "legacy_customers.csv"
SAMPLE_USAGE = SAMPLES / "legacy_usage.csv"


@dataclass
class Run:
    exit_code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def customers_csv(*rows: str, header: str = CUSTOMER_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def usage_csv(*rows: str, header: str = USAGE_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def run_import(*args: str | Path, verbosity: int = 1) -> Run:
    """Run the command as `manage.py` would; a CommandError is its non-zero exit."""
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "import_legacy_customers",
            *map(str, args),
            stdout=out,
            stderr=err,
            verbosity=verbosity,
        )
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return Run(exc.returncode, out.getvalue(), err.getvalue())
    return Run(0, out.getvalue(), err.getvalue())
