from django.core.management.base import BaseCommand, CommandError

from accounts.actors import command_actor
from accounts.errors import BillingError
from accounts.formatting import money
from accounts.models import ChangeSource
from accounts.services.customers import customer_get, plan_get
from accounts.services.plan_change import PRORATION_NONE, PRORATION_PRORATED
from accounts.services.staff_plan_change import NOW, PERIOD_END, staff_plan_change


class Command(BaseCommand):
    help = (
        "Change one customer's plan (audited like every plan change): the admin's "
        '"Change plan" path.'
    )

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="The customer's external id (user_id).")
        parser.add_argument("plan_code", help="free, starter, growth, legacy_build, …")
        parser.add_argument("--reason", required=True, help="Why; kept in the plan history.")
        parser.add_argument("--actor", default="", help="Who asked (defaults to $USER).")
        parser.add_argument(
            "--at-period-end",
            action="store_true",
            help="At the end of the paid period (a Stripe subscriber) instead of now.",
        )
        parser.add_argument(
            "--prorate",
            action="store_true",
            help="Prorate the subscription's price move (default: none, next invoice).",
        )

    def handle(self, *args, user_id, plan_code, reason, actor, **options):
        actor = actor or command_actor()
        try:
            customer = customer_get(external_id=user_id)
            plan = plan_get(code=plan_code)
            if customer.plan_id == plan.pk:
                self.stdout.write(f"{user_id} is already on {plan.code}; nothing changed.")
                return
            before = customer.plan
            change = staff_plan_change(
                customer=customer,
                plan=plan,
                when=PERIOD_END if options["at_period_end"] else NOW,
                proration_behavior=PRORATION_PRORATED if options["prorate"] else PRORATION_NONE,
                source=ChangeSource.COMMAND,
                actor=actor,
                reason=reason,
            )
        except BillingError as exc:
            raise CommandError(exc.detail) from exc
        customer.refresh_from_db()
        if customer.pending_plan_id == plan.pk:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{user_id}: {before.code} → {plan.code} on "
                    f"{customer.pending_plan_at:%Y-%m-%d %H:%M} UTC, the end of the paid period "
                    f"(recorded as change {change.pk})."
                )
            )
            return
        complimentary = " (complimentary)" if change.complimentary else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{user_id}: {change.from_plan.code} → {change.to_plan.code}{complimentary} "
                f"({money(change.from_price_cents)} → {money(change.to_price_cents)}/mo), "
                f"recorded as change {change.pk}."
            )
        )
