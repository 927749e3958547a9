"""The import takes every customer the old system held, internationalised addresses included
(a UTF-8 local part, an IDN domain); only truly malformed addresses block the file."""

from __future__ import annotations

import pytest

from accounts.models import Customer
from tests.migration.import_support import customers_csv, run_import

pytestmark = pytest.mark.django_db


def test_internationalised_addresses_are_imported(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(
        customers_csv(
            "u1,müller@example.de,pro,3900,,,",
            "u2,用户@例子.广告,build,1900,,,",
            "u3,josé@exämple.es,starter,900,,,",
        ),
        encoding="utf-8",
    )
    run = run_import(path, "--apply")
    assert run.exit_code == 0, run.err
    assert dict(Customer.objects.values_list("external_id", "email")) == {
        "u1": "müller@example.de",
        "u2": "用户@例子.广告",
        "u3": "josé@exämple.es",
    }


def test_a_truly_malformed_address_still_blocks_the_file(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(
        customers_csv("u1,müller@example.de,pro,3900,,,", "u2,two words@例子.广告,pro,3900,,,"),
        encoding="utf-8",
    )
    run = run_import(path, "--apply")
    assert run.exit_code != 0
    assert "email 'two words@例子.广告' is not an e-mail address" in run.err
    assert not Customer.objects.exists()
