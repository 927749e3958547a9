"""Bad input to `import_legacy_customers`: every kind of bad row or file, each with its own
clear error naming file, line and reason; any error writes nothing and exits non-zero."""

import pytest

from accounts.models import Customer, PlanChange
from tests.accounts.factories import CustomerFactory, plan
from tests.migration.import_support import (
    CUSTOMER_HEADER,
    USAGE_HEADER,
    customers_csv,
    run_import,
    usage_csv,
    write,
)
from usage.models import MonthlyUsage

pytestmark = pytest.mark.django_db

GOOD = "alice,alice@example.com,pro,3900,cus_A1,sub_A1,2025-03-04 05:06:07"


def rejected(tmp_path, customers: str | bytes, usage: str | bytes | None = None) -> list[str]:
    """Apply the files, expect a refusal that wrote nothing, and return the error lines."""
    args = [write(tmp_path, "c.csv", customers)]
    if usage is not None:
        args += ["--usage", write(tmp_path, "u.csv", usage)]
    run = run_import(*args, "--apply")
    assert run.exit_code == 1, run.out
    assert "nothing was imported" in run.err
    assert not Customer.objects.exclude(external_id="zed").exists()
    assert not PlanChange.objects.exists()
    assert not MonthlyUsage.objects.exists()
    return run.error_lines[:-1]  # the last line is the CommandError summary


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (
            "alice,a@example.com,platinum,,,,",
            "plan 'platinum' is not a plan of the old system (free, starter, build, pro, agency)",
        ),
        (
            "alice,a@example.com,growth,9900,,,",
            "plan 'growth' is a plan of the new session "
            "pricing; this import takes the old system's plans",
        ),
        ("alice,a@example.com,,,,,", "plan is empty"),
        ("alice,not-an-email,pro,,,,", "email 'not-an-email' is not an e-mail address"),
        ("alice,a@b@example.com,pro,,,,", "email 'a@b@example.com' is not an e-mail address"),
        ("alice,,pro,,,,", "email is empty"),
        (",a@example.com,pro,,,,", "user_id is empty"),
        ("alice,a@example.com,pro,-3900,,,", "price_cents is negative (-3900)"),
        (
            "alice,a@example.com,pro,39.00,,,",
            "price_cents must be whole cents (900 for $9.00), not 39.00",
        ),
        ("alice,a@example.com,pro,lots,,,", "price_cents is not a number: 'lots'"),
        (
            "alice,a@example.com,starter,1900,,,",
            "price_cents 1900 does not match plan 'starter', "
            "which costs 900; 1900 is the price of 'build'",
        ),
        (
            "alice,a@example.com,pro,100,,,",
            "price_cents 100 does not match plan 'pro', which costs 3900",
        ),
        (
            "alice,a@example.com,pro,,cust_123,,",
            "stripe_customer_id 'cust_123' is not a Stripe id (cus_…)",
        ),
        (
            "alice,a@example.com,pro,,cus_1,cus_2,",
            "stripe_subscription_id 'cus_2' is not a Stripe id (sub_…)",
        ),
        (
            "alice,a@example.com,pro,,,,yesterday",
            "created_at 'yesterday' is not a date: write ISO 8601",
        ),
        ("alice,a@example.com,pro,,,,2999-01-01", "created_at 2999-01-01 is in the future"),
        ("alice,a@example.com,pro,,,,1999-12-31", "created_at 1999-12-31 is before 2000"),
        # Unix seconds past year 9999 and year 0: no date holds them (was a traceback).
        ("alice,a@example.com,pro,,,,999999999999", "created_at 999999999999 is in the future"),
        ("alice,a@example.com,pro,,,,0000-01-01", "created_at '0000-01-01' is not a date"),
    ],
)
def test_bad_customer_row(tmp_path, row, error):
    [only] = rejected(tmp_path, customers_csv(GOOD.replace("alice", "first"), row))
    assert only.startswith(f"c.csv:3: {error}")


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("alice,2026-09,10,-5,0", "total_sessions is negative (-5)"),
        ("alice,2026-09,10,5,-1", "successful_sessions is negative (-1)"),
        ("alice,2026-09,-1.5,5,4", "total_minutes_used is negative (-1.5)"),
        ("alice,2026-09,10,5,9", "successful_sessions (9) is more than total_sessions (5)"),
        ("alice,2026-09,10,5.5,4", "total_sessions must be a whole number, not 5.5"),
        ("alice,2026-09,10,,4", "total_sessions is empty (write 0 for none)"),
        ("alice,2026-09,lots,5,4", "total_minutes_used is not a number: 'lots'"),
        ("alice,2026-09,NaN,5,4", "total_minutes_used is not a number: 'NaN'"),
        ("alice,2025-13,10,5,4", "month 2025-13 does not exist (months are 01 to 12)"),
        ("alice,2025/09,10,5,4", "month must be written YYYY-MM (e.g. 2025-09), not '2025/09'"),
        ("alice,09-2025,10,5,4", "month must be written YYYY-MM (e.g. 2025-09), not '09-2025'"),
        ("alice,2025-9,10,5,4", "month must be written YYYY-MM (e.g. 2025-09), not '2025-9'"),
        ("alice,,10,5,4", "month must be written YYYY-MM (e.g. 2025-09), not ''"),
        ("alice,2099-01,10,5,4", "month 2099-01 is in the future"),
        ("alice,1999-12,10,5,4", "month 1999-12 is before 2000: not a month of the old system"),
        ("alice,0000-01,10,5,4", "month 0000-01 is before 2000: not a month of the old system"),
        ("alice,2026-08,10,5,4", "user_id 'alice' already has a row for 2026-08 on line 2"),
        ("ghost,2026-09,10,5,4", "user_id 'ghost' is neither in c.csv nor a customer here"),
    ],
)
def test_bad_usage_row(tmp_path, row, error):
    usage = usage_csv("alice,2026-08,10,5,4", row)
    [only] = rejected(tmp_path, customers_csv(GOOD), usage)
    assert only.startswith(f"u.csv:3: {error}")


def test_duplicate_user_in_the_file(tmp_path):
    errors = rejected(tmp_path, customers_csv(GOOD, "bob,b@example.com,free,,,,", GOOD))
    assert errors == ["c.csv:4: user_id 'alice' is already on line 2"]


def test_one_stripe_customer_for_two_users_in_the_file(tmp_path):
    errors = rejected(tmp_path, customers_csv(GOOD, "bob,b@example.com,build,1900,cus_A1,sub_B1,"))
    assert errors == [
        "c.csv:3: stripe_customer_id cus_A1 is also on line 2 (user 'alice'): a Stripe id "
        "belongs to one customer"
    ]


def test_stripe_id_of_another_customer_here(tmp_path):
    CustomerFactory(external_id="zed", plan=plan("starter"), stripe_subscription_id="sub_A1")
    errors = rejected(tmp_path, customers_csv(GOOD))
    assert errors == [
        "c.csv:2: stripe_subscription_id sub_A1 already belongs to customer 'zed' here"
    ]


def test_failed_sessions_given_must_fit(tmp_path):
    header = USAGE_HEADER + ",failed_sessions,billable_minutes"
    usage = usage_csv("alice,2026-09,10,5,4,3,10", "alice,2026-10,10,5,4,1,11", header=header)
    assert rejected(tmp_path, customers_csv(GOOD), usage) == [
        "u.csv:2: failed_sessions (3) is more than total_sessions minus successful_sessions (1)",
        "u.csv:3: billable_minutes (11.00) is more than total_minutes_used (10.00)",
    ]


def test_plan_code_from_an_export_must_agree_with_plan(tmp_path):
    header = CUSTOMER_HEADER + ",plan_code"
    rows = [GOOD + ",legacy_build", "bob,b@example.com,free,0,,,,gold"]
    assert rejected(tmp_path, customers_csv(*rows, header=header)) == [
        "c.csv:2: plan 'pro' and plan_code 'legacy_build' disagree (plan_code 'legacy_build' "
        "goes with plan 'build')",
        "c.csv:3: plan_code 'gold' is not a plan here (plans: free, starter, growth, "
        "legacy_free, legacy_starter, legacy_build, legacy_pro, legacy_agency)",
    ]


class TestFiles:
    @pytest.mark.parametrize("content", [b"", b"  \r\n\n", b"\xef\xbb\xbf"])
    def test_empty_file(self, tmp_path, content):
        assert rejected(tmp_path, content) == [
            "c.csv: the file is empty: expected a header line (user_id, email, plan, "
            "price_cents, stripe_customer_id, stripe_subscription_id, created_at) and rows"
        ]

    def test_header_without_rows(self, tmp_path):
        assert rejected(tmp_path, CUSTOMER_HEADER + "\n") == [
            "c.csv:1: the file has a header but no rows"
        ]

    def test_latin1_file_names_the_line_and_the_fix(self, tmp_path):
        content = customers_csv(GOOD, "andre,andré@example.com,free,,,,").encode("latin-1")
        [error] = rejected(tmp_path, content)
        assert error.startswith("c.csv:3: the file is not UTF-8 (byte 0xe9 is 'é' in ")
        assert "iconv -f WINDOWS-1252 -t UTF-8" in error

    def test_latin1_file_with_a_utf8_bom_names_the_right_byte(self, tmp_path):
        content = b"\xef\xbb\xbf" + customers_csv("andre,andr\xe9@example.com,free,,,,").encode(
            "latin-1"
        )
        [error] = rejected(tmp_path, content)
        assert error.startswith("c.csv:2: the file is not UTF-8 (byte 0xe9 is 'é' in ")

    def test_utf16_file(self, tmp_path):
        assert rejected(tmp_path, customers_csv(GOOD).encode("utf-16")) == [
            "c.csv: the file is UTF-16: export it as UTF-8"
        ]

    def test_excel_file(self, tmp_path):
        assert rejected(tmp_path, b"PK\x03\x04\x14\x00\x06\x00rest-of-zip") == [
            "c.csv: this is a zip or Excel (.xlsx) file, not CSV: save it as CSV UTF-8"
        ]

    def test_binary_file(self, tmp_path):
        assert rejected(tmp_path, customers_csv(GOOD) + "\x00\x00\x00") == [
            "c.csv:3: the file contains NUL characters: it is not a text CSV file"
        ]

    @pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolons"), ("\t", "tabs")])
    def test_wrong_delimiter(self, tmp_path, delimiter, name):
        content = customers_csv(GOOD).replace(",", delimiter)
        [error] = rejected(tmp_path, content)
        assert error.startswith(f"c.csv:1: the columns are separated by {name}, not commas")

    def test_a_row_with_another_delimiter(self, tmp_path):
        errors = rejected(
            tmp_path, customers_csv(GOOD, GOOD.replace("alice", "bob").replace(",", ";"))
        )
        assert errors == [
            "c.csv:3: 1 values but the header has 7 columns (separated by semicolons? "
            "expected commas)"
        ]

    def test_a_row_with_too_many_values(self, tmp_path):
        assert rejected(tmp_path, customers_csv(GOOD + ",extra")) == [
            "c.csv:2: 8 values but the header has 7 columns"
        ]

    def test_missing_column(self, tmp_path):
        header = CUSTOMER_HEADER.replace(",created_at", "")
        [error] = rejected(tmp_path, customers_csv(GOOD.rsplit(",", 1)[0], header=header))
        assert error == (
            "c.csv:1: missing column created_at: the header must name user_id, email, plan, "
            "price_cents, stripe_customer_id, stripe_subscription_id, created_at"
        )

    def test_misspelled_column_gets_a_hint(self, tmp_path):
        header = CUSTOMER_HEADER.replace("user_id", "User ID")
        [error] = rejected(tmp_path, customers_csv(GOOD, header=header))
        assert error.startswith("c.csv:1: missing column user_id ('User ID' should be written")

    def test_missing_usage_column(self, tmp_path):
        header = USAGE_HEADER.replace(",successful_sessions", "")
        [error] = rejected(
            tmp_path, customers_csv(GOOD), usage_csv("alice,2026-09,1,1", header=header)
        )
        assert error.startswith("u.csv:1: missing column successful_sessions")

    def test_no_header_line(self, tmp_path):
        [error] = rejected(tmp_path, GOOD + "\n")
        assert error.startswith("c.csv:1: no header line: the first line must name the columns")

    def test_column_twice(self, tmp_path):
        header = CUSTOMER_HEADER + ",email"
        assert rejected(tmp_path, customers_csv(GOOD + ",x@example.com", header=header)) == [
            "c.csv:1: column 'email' appears twice in the header"
        ]

    def test_broken_quoting(self, tmp_path):
        [error] = rejected(tmp_path, customers_csv('alice,"a@example.com,pro,,,,'))
        assert error.startswith("c.csv:2: unreadable CSV")


class TestAccepted:
    def test_bom_crlf_quotes_spaces_and_extra_columns(self, tmp_path):
        content = (
            "\ufeffuser_id, email, plan, price_cents, stripe_customer_id, "
            "stripe_subscription_id, created_at, notes\r\n"
            '"alice, the first",Alice@Example.com, Pro ,3900,cus_A1,sub_A1,1735787045,'
            '"VIP, keep"\r\n'
        ).encode()
        run = run_import(write(tmp_path, "c.csv", content), "--apply")
        assert run.exit_code == 0, run.err
        assert "Warning: c.csv: ignored column(s) notes" in run.out
        alice = Customer.objects.get()
        assert alice.external_id == "alice, the first"
        assert alice.email == "Alice@Example.com"
        assert alice.plan.code == "legacy_pro"
        assert alice.created_at.isoformat() == "2025-01-02T03:04:05+00:00"

    def test_fractional_minutes_are_kept_to_the_hundredth(self, tmp_path):
        customers = write(tmp_path, "c.csv", customers_csv(GOOD))
        usage = write(tmp_path, "u.csv", usage_csv("alice,2026-09,12.345,5,4"))
        assert run_import(customers, "--usage", usage, "--apply").exit_code == 0
        assert str(MonthlyUsage.objects.get().total_minutes) == "12.35"


class TestAllOrNothing:
    def test_every_error_of_both_files_is_listed_and_nothing_is_written(self, tmp_path):
        customers = customers_csv(
            GOOD,
            "bob,b@example.com,platinum,,,,",
            "carol,c@example.com,build,1900,,,",
            "dave,not-an-email,free,abc,,,",
            "erin,erin-at-example.com,gold,,,,",
        )
        usage = usage_csv(
            "alice,2026-09,10,5,4",
            "carol,2026-13,1,1,1",
            "bob,2026-09,1,1,1",
            "ghost,2026-13,1,1,1",
        )
        errors = rejected(tmp_path, customers, usage)
        assert errors == [
            "c.csv:3: plan 'platinum' is not a plan of the old system (free, starter, build, "
            "pro, agency)",
            "c.csv:5: email 'not-an-email' is not an e-mail address",
            "c.csv:5: price_cents is not a number: 'abc'",
            "c.csv:6: email 'erin-at-example.com' is not an e-mail address",
            "c.csv:6: plan 'gold' is not a plan of the old system (free, starter, build, pro, "
            "agency)",
            "u.csv:3: month 2026-13 does not exist (months are 01 to 12)",
            "u.csv:5: month 2026-13 does not exist (months are 01 to 12)",
            "u.csv:5: user_id 'ghost' is neither in c.csv nor a customer here",
        ]

    def test_an_error_in_the_usage_file_alone_stops_the_customers_too(self, tmp_path):
        rejected(tmp_path, customers_csv(GOOD), usage_csv("alice,2026-09,10,5,6"))

    def test_the_dry_run_reports_the_same_errors(self, tmp_path):
        path = write(tmp_path, "c.csv", customers_csv(GOOD, "bob,b@example.com,platinum,,,,"))
        run = run_import(path, "--dry-run")
        assert run.exit_code == 1
        assert run.error_lines == [
            "c.csv:3: plan 'platinum' is not a plan of the old system (free, starter, build, "
            "pro, agency)",
            "CommandError: 1 error in c.csv; nothing was imported.",
        ]

    def test_an_existing_customer_is_not_touched_when_the_file_has_an_error(self, tmp_path):
        CustomerFactory(external_id="zed", plan=plan("legacy_free"), email="z@example.com")
        rejected(tmp_path, customers_csv("zed,new@example.com,pro,,,,", "bob,bad,free,,,,"))
        zed = Customer.objects.get(external_id="zed")
        assert (zed.email, zed.plan.code) == ("z@example.com", "legacy_free")
