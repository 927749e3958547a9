"""Importing customers and their monthly usage from the old minute-based system's CSV files.

Import each name from its module:

- `parse`: reading the old system's CSV files (columns, encoding, header) into rows.
- `checks`: the checks of each row on its own, as typed rows.
- `stored`: what the database already holds for those rows, read in bulk.
- `decide`: comparing with the database: creates, updates, plan changes, and its problems.
- `write`: the bulk writes of a decided import.
- `report`: what an import tells (issues, outcomes, tallies, ImportRejected).
- `run`: the entry points, `legacy_customers_import` and `legacy_samples_import`.
"""
