from django.core.management.base import BaseCommand, CommandError

from accounts.actors import command_actor
from accounts.errors import BillingError
from accounts.formatting import money
from accounts.models import ChangeSource
from accounts.services.customers import customer_get, plan_get
from accounts.services.plan_change import customer_change_plan


class Command(BaseCommand):
    help = "Change one customer's plan (audited like every plan change)."

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="The customer's external id (user_id).")
        parser.add_argument("plan_code", help="free, starter, growth, legacy_build, …")
        parser.add_argument("--reason", required=True, help="Why; kept in the plan history.")
        parser.add_argument("--actor", default="", help="Who asked (defaults to $USER).")

    def handle(self, *args, user_id, plan_code, reason, actor, **options):
        actor = actor or command_actor()
        try:
            customer = customer_get(external_id=user_id)
            plan = plan_get(code=plan_code)
            change = customer_change_plan(
                customer=customer,
                plan=plan,
                source=ChangeSource.COMMAND,
                actor=actor,
                reason=reason,
            )
        except BillingError as exc:
            raise CommandError(exc.detail) from exc
        if change is None:
            self.stdout.write(f"{user_id} is already on {plan.code}; nothing changed.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{user_id}: {change.from_plan.code} → {change.to_plan.code} "
                f"({money(change.from_price_cents)} → {money(change.to_price_cents)}/mo), "
                f"recorded as change {change.pk}."
            )
        )
