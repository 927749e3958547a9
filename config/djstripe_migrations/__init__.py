"""Migrations for the `djstripe` app: dj-stripe 2.11.0's three migrations squashed into one.

Why: on an empty database dj-stripe's own migrations cost 70-90 s of CPU, because
`0002_2_10` replays 500+ `RemoveField` operations (2.10 moved most columns into `stripe_data`)
and Django re-renders the related model states for each one. Every fresh database pays it:
`make run`, every test database, every CI run. `config/settings.py` selects this module with
`MIGRATION_MODULES = {"djstripe": "config.djstripe_migrations"}`; the one migration here creates
the final 2.11 schema directly in a few seconds. dj-stripe itself is not forked or edited.

Existing databases: `0001_squashed_0003_2_11` `replaces` ("djstripe", "0001_initial"),
("djstripe", "0002_2_10") and ("djstripe", "0003_2_11"). A database that applied those three
treats the squash as applied and runs nothing (`migrate` records the squash as applied too).
A database that applied only some of them cannot use the squash (the upstream files are not in
this module): migrate it first with an earlier main, on dj-stripe's own migrations.

Data operations: the upstream migrations hold none (no RunPython, no RunSQL; only CreateModel,
AddField, RemoveField, DeleteModel, AlterModelOptions and AlterUniqueTogether), so the squash
has none either and an empty database ends up with the same (empty) tables.

The subscriber: dj-stripe's Customer.subscriber points at `settings.DJSTRIPE_SUBSCRIBER_MODEL`.
When dj-stripe's migrations first ran on our databases that was `billing.Customer`, and their
0001 recorded a dependency on the `billing` app. The squash describes that history (it depends
on `billing.0001_initial` and points the subscriber at `billing.customer`);
`0002_subscriber_follows_accounts` then points it, in Django's state only, at today's
`accounts.Customer`, which kept the table `billing_customer`. Databases built before the move
thus stay consistent (their applied upstream 0001 is replaced by the squash, which is counted
applied), and fresh ones get the same schema. The squash imports nothing from the project.

`.ci/djstripe_squash_check.py` proves it in CI: it migrates one empty PostgreSQL database with
the upstream graph (DJSTRIPE_UPSTREAM_MIGRATIONS=true) and one with this squash, compares the
schemas, and fails when the installed dj-stripe ships migrations that `replaces` does not list;
`.ci/upgrade_check.py` migrates a database made by an earlier main (upstream migrations
applied, data in it) to this code.

How to regenerate (after upgrading dj-stripe, when the check says so):

1. Make an empty package outside the project, e.g. `/tmp/sqgen/djstripe_gen/__init__.py`, and
   settings `/tmp/sqgen/gen_settings.py` holding
   `from config.settings import *` and `MIGRATION_MODULES = {"djstripe": "djstripe_gen"}`.
2. From the project root:
   `PYTHONPATH=/tmp/sqgen DJANGO_SETTINGS_MODULE=gen_settings DEBUG=true SECRET_KEY=x \\
   python manage.py makemigrations djstripe --name squashed_<last upstream migration>`
   (this builds the operations from dj-stripe's models; the upstream graph must have no
   pending changes: `DJSTRIPE_UPSTREAM_MIGRATIONS=true manage.py makemigrations --check`).
3. Replace the old file here with the generated one, then hand-finish it like the current
   file: the module docstring; `replaces` listing every migration in djstripe/migrations/;
   `dependencies = [("billing", "0001_initial")]` and the subscriber field's
   `to="billing.customer"` (the historic subscriber, as in the current file); keep
   0002_subscriber_follows_accounts. Check that no project module is imported, and
   grep the new upstream migrations for RunPython/RunSQL (data operations need thought: on
   an empty database they usually do nothing, but say so here).
4. Run `ruff format` and `ruff check --fix` on it, then `.ci/djstripe_squash_check.py`.
"""
