"""The form of a migration action's confirmation page."""

from __future__ import annotations

from django import forms

from accounts.models import BatchKind
from migration.batches.operations import MAX_GRANDFATHER_MONTHS, NOTICE


class MigrationActionForm(forms.Form):
    months = forms.IntegerField(
        min_value=1,
        max_value=MAX_GRANDFATHER_MONTHS,
        help_text="Months of grandfathering (from today, or added to each customer's end date).",
    )
    reason = forms.CharField(
        max_length=255, help_text="Why; kept in the plan history of every customer."
    )
    notify = forms.BooleanField(
        required=False, initial=True, help_text="E-mail the customers (once; after commit)."
    )

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        if kind not in (BatchKind.GRANDFATHER, BatchKind.EXTEND):
            del self.fields["months"]
        if kind not in (
            BatchKind.REMAP,
            BatchKind.GRANDFATHER,
            BatchKind.EXTEND,
            BatchKind.END_GRANDFATHERING,
        ):
            del self.fields["notify"]
        if kind == NOTICE:
            del self.fields["reason"]
