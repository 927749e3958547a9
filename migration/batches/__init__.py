"""Moving customers to session plans in bulk: plan (dry run), apply, roll back, grandfathering.

One path for every bulk change of plan or migration state, used by the commands
(`migrate_to_sessions`, `apply_grandfathering`, `rollback_batch`) and the admin actions. Work
grows with the number of customers only in Python and in the size of a few bulk statements,
never in the number of statements per customer. Import each name from its module:

- `selection`: which customers an operation is about (CustomerSelection), reading their rows.
- `impact`: the usage estimate of a dry run (minutes history, estimated sessions).
- `operations`: what each batch kind (and the notice) does to one customer's state.
- `planning`: the dry run (`migration_plan`, MigrationPlan, PlannedChange).
- `notices`: the migration e-mails (notice of a move, "moved"), sent once per customer and key.
- `apply`: saving, applying, or planning and applying a batch (`migration_run`).
- `grandfathering`: moving the customers whose grandfathering has ended.
- `rollback`: restoring a batch's customers exactly from the `state_before` snapshots.
"""
