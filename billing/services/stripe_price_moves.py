"""Moving paying customers' Stripe subscriptions to the price of their new plan: an outbox.

Every plan change (one customer's or a batch's: remap, the automatic move at grandfathering
end, a rollback) records one `StripePriceMove` row per subscriber whose plan changed, in the
same transaction as the PlanChange rows (`price_moves_record`, from the `plan_changed`
signal), with the task that sends them: a committed plan change always has its move and a
rolled-back one has none. A worker runs `send_price_moves`, which sends the pending moves
through the gateway (`proration_behavior="none"`: the current period stays paid at the old
price, the next invoice bills the new one), paced below Stripe's rate limit; the scheduled
`stripe_price_moves` run retries whatever is still pending. Nothing is done twice:

* each move's idempotency key comes from its PlanChange id, and the gateway sends nothing when
  the subscription is already on the price, so a retry or two overlapping runs cannot move a
  subscription twice or differently;
* a pending move that a later move of the same subscription follows is skipped (superseded):
  only the newest plan decides the price, whatever order retries run in.

A temporary failure (Stripe unreachable, 429, 5xx) leaves the move pending with the error and
attempt count; a permanent one (`No such subscription`, another 400/404) marks it failed for
staff, with Stripe's words. Neither undoes the plan change. A move whose plan has no Stripe
price id is `failed` with a reason telling staff what to set; `stripe_price_moves --retry`
picks it up once set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import stripe
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django_tasks import task

from accounts.bulk import insert
from accounts.errors import StripePriceChanged, StripeUnavailable
from accounts.models import Plan
from accounts.progress import Progress
from accounts.services.plan_change import PRORATION_NONE, SOURCES_FOLLOWING_STRIPE, RecordedChange
from billing import stripe_gateway
from billing.models import PriceMoveStatus, StripeAction, StripePriceMove
from billing.selectors import customer_subscription
from billing.stripe_plans import plan_price_id

logger = logging.getLogger(__name__)

# Moves per sending task: each takes two Stripe calls, so a chunk is about 20 s at 300 ms.
SEND_CHUNK = 25
SUPERSEDED = "superseded by a later price move of the same subscription"


def missing_price_reason(plan: Plan) -> str:
    return (
        f"Plan {plan.code} ({plan.name}) has no Stripe price id: set the plan's Stripe price id "
        "in the admin (Plans and customers → Plans), then run "
        "`python manage.py stripe_price_moves --retry`."
    )


def idempotency_key(plan_change_id: int, action: str = StripeAction.PRICE) -> str:
    return f"plan-change-{plan_change_id}-{action}"


@dataclass(frozen=True, slots=True)
class DuePriceMove:
    """A subscription to move to another price, decided by one PlanChange."""

    plan_change_id: int
    subscription_id: str
    from_price_id: str
    to_plan: Plan
    to_price_id: str  # "" when the plan has no Stripe price: recorded as failed
    action: str = StripeAction.PRICE
    proration_behavior: str = PRORATION_NONE

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.plan_change_id, self.action)

    @property
    def is_sendable(self) -> bool:
        return bool(self.to_price_id) or self.action != StripeAction.PRICE


_COLUMNS = (
    "plan_change_id",
    "batch_id",
    "subscription_id",
    "from_price_id",
    "to_price_id",
    "action",
    "proration_behavior",
    "idempotency_key",
    "status",
    "attempts",
    "last_error",
    "created_at",
    "updated_at",
    "done_at",
)


def price_moves_record(*, moves: list[DuePriceMove], batch_id: int | None) -> int:
    """Write the outbox rows (one bulk insert). Runs inside the plan change's transaction."""
    now = timezone.now()
    rows = [
        (
            move.plan_change_id,
            batch_id,
            move.subscription_id,
            move.from_price_id,
            move.to_price_id,
            move.action,
            move.proration_behavior,
            move.idempotency_key,
            PriceMoveStatus.PENDING if move.is_sendable else PriceMoveStatus.FAILED,
            0,
            "" if move.is_sendable else missing_price_reason(move.to_plan),
            now,
            now,
            None,
        )
        for move in moves
    ]
    insert(StripePriceMove, _COLUMNS, rows)
    return len(rows)


def due_price_moves(
    records: Iterable[RecordedChange],
    plans: dict[int, Plan],
    *,
    to_prices: dict[int, str] | None = None,
    proration_behavior: str = PRORATION_NONE,
) -> list[DuePriceMove]:
    """The Stripe price moves that recorded plan changes call for: every customer with a
    subscription whose plan changed (a grandfathering date alone moves nothing in Stripe).

    The price is the new plan's, unless `to_prices` (customer id → price; a rollback's
    recorded old price) says otherwise. A move to a free plan (no price to bill) cancels the
    subscription instead."""
    to_prices = to_prices or {}
    price_of: dict[int, str] = {}
    moves = []
    for record in records:
        if not record.stripe_subscription_id or record.from_plan_id == record.to_plan_id:
            continue
        for plan_id in (record.from_plan_id, record.to_plan_id):
            if plan_id not in price_of:
                price_of[plan_id] = plan_price_id(plans[plan_id])
        to_price = to_prices.get(record.customer_id) or price_of[record.to_plan_id]
        cancels = plans[record.to_plan_id].price_cents == 0 and not to_price
        moves.append(
            DuePriceMove(
                plan_change_id=record.plan_change_id,
                subscription_id=record.stripe_subscription_id,
                from_price_id=price_of[record.from_plan_id],
                to_plan=plans[record.to_plan_id],
                to_price_id=to_price,
                action=StripeAction.CANCEL_NOW if cancels else StripeAction.PRICE,
                proration_behavior=proration_behavior,
            )
        )
    return moves


def price_moves_on_plan_change(
    sender, *, records, plans, batch, source, to_prices, **kwargs
) -> int:
    """`plan_changed` receiver: record the moves a change calls for in the outbox (this
    transaction) and send them once it commits. Changes that follow Stripe (webhooks) or the
    old system (import) move nothing."""
    if source in SOURCES_FOLLOWING_STRIPE:
        return 0
    moves = due_price_moves(
        records,
        plans,
        to_prices=to_prices,
        proration_behavior=kwargs.get("proration_behavior") or PRORATION_NONE,
    )
    if not moves:
        return 0
    batch_id = batch.pk if batch is not None else None
    price_moves_record(moves=moves, batch_id=batch_id)
    # Queued in this transaction: workers send them once it commits (never if it rolls back),
    # in chunks, so that several workers share a large batch (Stripe answers in 200-500 ms).
    changes = [move.plan_change_id for move in moves]
    for start in range(0, len(changes), SEND_CHUNK):
        send_price_moves.enqueue(batch_id, changes[start : start + SEND_CHUNK])
    return len(moves)


def cancellation_on_plan_scheduled(sender, *, customer, plan, previous, change, **kwargs) -> int:
    """`plan_change_scheduled` receiver: a subscriber's move to a free plan at the period's end
    sets its subscription to cancel then; undoing it (or replacing it by a paid plan) sets the
    subscription to renew again. Recorded in the outbox in this transaction."""
    if not customer.has_live_subscription:
        return 0
    to_free = plan is not None and plan.price_cents == 0
    from_free = previous is not None and previous.price_cents == 0
    if to_free == from_free:
        return 0
    mirrored = customer_subscription(customer=customer)
    if mirrored is not None and mirrored.cancel_at_period_end == to_free:
        return 0  # Stripe already so (set in its billing portal): nothing to send
    action = StripeAction.CANCEL_AT_PERIOD_END if to_free else StripeAction.RESUME
    price = plan_price_id(customer.plan)
    move = DuePriceMove(
        plan_change_id=change.pk,
        subscription_id=customer.stripe_subscription_id,
        from_price_id=price,
        to_plan=customer.plan,
        to_price_id=price,
        action=action,
    )
    price_moves_record(moves=[move], batch_id=None)
    send_price_moves.enqueue(None, [change.pk])
    return 1


# --- Sending ----------------------------------------------------------------------------------


@dataclass
class PriceMovesRun:
    """What one processing run did."""

    done: int = 0
    errors: int = 0  # attempted, still pending
    failed: int = 0  # refused by Stripe for good: failed, for staff
    superseded: int = 0
    changed_at_stripe: int = 0  # skipped: the subscription is on another price by now
    requeued: int = 0  # failed moves whose plan now has a price (--retry)
    still_failed: int = 0
    stopped_early: bool = False  # Stripe unreachable: the rest were not attempted
    messages: list[str] = field(default_factory=list)


_CANCELLATION_STATE = (StripeAction.CANCEL_AT_PERIOD_END, StripeAction.RESUME)


def _supersede() -> int:
    """A pending row is skipped when a later row of the same subscription decides the same
    thing: a price by a later price move, renewal by a later cancel/resume; a cancellation now
    supersedes everything before it."""
    later = StripePriceMove.objects.filter(
        subscription_id=OuterRef("subscription_id"), id__gt=OuterRef("id")
    )
    pending = StripePriceMove.objects.filter(status=PriceMoveStatus.PENDING)
    same_kind = Q(action=StripeAction.CANCEL_NOW)
    superseded = pending.filter(
        Q(action=StripeAction.PRICE)
        & Exists(later.filter(same_kind | Q(action=StripeAction.PRICE)))
        | Q(action__in=_CANCELLATION_STATE)
        & Exists(later.filter(same_kind | Q(action__in=_CANCELLATION_STATE)))
        | Q(action=StripeAction.CANCEL_NOW) & Exists(later.filter(same_kind))
    )
    return superseded.update(
        status=PriceMoveStatus.SKIPPED, last_error=SUPERSEDED, updated_at=timezone.now()
    )


def _requeue_failed(run: PriceMovesRun, moves) -> None:
    """Failed moves whose plan has a Stripe price id by now become pending again."""
    now = timezone.now()
    for move in moves.filter(status=PriceMoveStatus.FAILED).select_related("plan_change__to_plan"):
        plan = move.plan_change.to_plan
        price = plan_price_id(plan) if move.action == StripeAction.PRICE else move.to_price_id
        if not price and move.action == StripeAction.PRICE:
            run.still_failed += 1
            continue
        updated = StripePriceMove.objects.filter(pk=move.pk, status=PriceMoveStatus.FAILED).update(
            status=PriceMoveStatus.PENDING, to_price_id=price, last_error="", updated_at=now
        )
        run.requeued += updated


def _is_unreachable(exc: Exception) -> bool:
    return isinstance(exc.__cause__, stripe.APIConnectionError)


def price_moves_process(
    *,
    batch_id: int | None = None,
    plan_change_ids: list[int] | None = None,
    retry_failed: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
) -> PriceMovesRun:
    """Send pending moves (of one batch, or all) to Stripe, oldest first. Never inside a
    transaction (the gateway refuses). Stops at the first "Stripe unreachable": the others
    stay pending, untried, for the next run."""
    run = PriceMovesRun()
    run.superseded = _supersede()
    scope = StripePriceMove.objects.all()
    if batch_id is not None:
        scope = scope.filter(batch_id=batch_id)
    if plan_change_ids is not None:
        scope = scope.filter(plan_change_id__in=plan_change_ids)
    if retry_failed:
        _requeue_failed(run, scope)
    pending = list(
        scope.filter(status=PriceMoveStatus.PENDING)
        .order_by("id")
        .values_list(
            "id",
            "subscription_id",
            "from_price_id",
            "to_price_id",
            "idempotency_key",
            "action",
            "proration_behavior",
        )[:limit]
    )
    for index, (pk, subscription_id, from_price, price_id, key, action, proration) in enumerate(
        pending, start=1
    ):
        if not StripePriceMove.objects.filter(pk=pk, status=PriceMoveStatus.PENDING).exists():
            continue  # superseded, or sent by another worker, since it was listed
        try:
            _send(
                action=action,
                subscription_id=subscription_id,
                from_price=from_price,
                price_id=price_id,
                key=key,
                proration=proration,
            )
        except StripePriceChanged as exc:
            # Changed at Stripe since (e.g. the customer switched plans): theirs is newer.
            StripePriceMove.objects.filter(pk=pk, status=PriceMoveStatus.PENDING).update(
                status=PriceMoveStatus.SKIPPED,
                attempts=F("attempts") + 1,
                last_error=exc.detail[:2000],
                updated_at=timezone.now(),
            )
            run.changed_at_stripe += 1
            run.messages.append(f"{subscription_id}: {exc.detail}")
        except Exception as exc:  # recorded on the move: retried later, or failed for good
            detail = exc.detail if isinstance(exc, StripeUnavailable) else repr(exc)
            if not isinstance(exc, StripeUnavailable):
                logger.exception("stripe price move failed", extra={"move": pk})
            if stripe_gateway.is_permanent(exc):
                # Retrying cannot help (e.g. `No such subscription`): staff must look.
                StripePriceMove.objects.filter(pk=pk, status=PriceMoveStatus.PENDING).update(
                    status=PriceMoveStatus.FAILED,
                    attempts=F("attempts") + 1,
                    last_error=f"Stripe refused it for good: {detail}"[:2000],
                    updated_at=timezone.now(),
                )
                run.failed += 1
                run.messages.append(f"{subscription_id}: failed for good: {detail}")
                continue
            StripePriceMove.objects.filter(pk=pk, status=PriceMoveStatus.PENDING).update(
                attempts=F("attempts") + 1, last_error=detail[:2000], updated_at=timezone.now()
            )
            run.errors += 1
            run.messages.append(f"{subscription_id}: {detail}")
            if isinstance(exc, StripeUnavailable) and _is_unreachable(exc):
                run.stopped_early = index < len(pending)
                break
        else:
            now = timezone.now()
            done = StripePriceMove.objects.filter(pk=pk, status=PriceMoveStatus.PENDING).update(
                status=PriceMoveStatus.DONE,
                attempts=F("attempts") + 1,
                last_error="",
                done_at=now,
                updated_at=now,
            )
            run.done += done
            if not done:
                _later_move_sent_again(pk=pk, subscription_id=subscription_id)
        if progress:
            progress("moving Stripe subscriptions", index, len(pending))
    if run.done or run.errors:
        logger.info(
            "stripe price moves sent",
            extra={"batch": batch_id, "done": run.done, "errors": run.errors},
        )
    return run


def _later_move_sent_again(*, pk: int, subscription_id: str) -> None:
    """Move `pk` reached Stripe although it was superseded while it was being sent: a later
    move of the subscription, done already, may have found Stripe as it was before this one
    landed (a roll-back's move back to the old price, "already there"). That later move is
    sent again, with a key of its own, to leave Stripe where the newest move says."""
    later = (
        StripePriceMove.objects.filter(
            subscription_id=subscription_id, id__gt=pk, status=PriceMoveStatus.DONE
        )
        .order_by("-id")
        .first()
    )
    if later is None:
        return
    reopened = StripePriceMove.objects.filter(pk=later.pk, status=PriceMoveStatus.DONE).update(
        status=PriceMoveStatus.PENDING,
        idempotency_key=f"{later.idempotency_key}:after-{pk}"[:255],
        last_error=f"sent again: move {pk} reached Stripe after it",
        updated_at=timezone.now(),
    )
    if reopened:
        logger.warning("stripe price move sent again", extra={"move": later.pk, "landed_late": pk})
        send_price_moves.enqueue(later.batch_id, [later.plan_change_id])


def _send(
    *, action: str, subscription_id: str, from_price: str, price_id: str, key: str, proration: str
) -> None:
    if action == StripeAction.CANCEL_NOW:
        stripe_gateway.subscription_cancel(subscription_id=subscription_id, idempotency_key=key)
    elif action in _CANCELLATION_STATE:
        stripe_gateway.subscription_cancel_at_period_end(
            subscription_id=subscription_id,
            at_period_end=action == StripeAction.CANCEL_AT_PERIOD_END,
            idempotency_key=key,
        )
    else:
        stripe_gateway.subscription_change_price(
            subscription_id=subscription_id,
            price_id=price_id,
            proration_behavior=proration,
            idempotency_key=key,
            expected_price_id=from_price or None,
        )


def price_moves_retry(*, ids) -> int:
    """Staff: failed moves among `ids` become pending again (with their plan's price as it is
    now) and are queued. Returns how many."""
    run = PriceMovesRun()
    _requeue_failed(run, StripePriceMove.objects.filter(pk__in=list(ids)))
    if run.requeued:
        send_price_moves.enqueue()
    return run.requeued


@task()
def send_price_moves(batch_id: int | None = None, plan_change_ids: list[int] | None = None) -> dict:
    """Send pending moves (those of these plan changes, of a batch, or all): a task, run by
    `db_worker`. Two runs meeting on a move cannot move it twice: its idempotency key and the
    conditional status update make the second a no-op. What is left pending (Stripe
    unreachable) is retried by the scheduled `stripe-price-moves` job."""
    run = price_moves_process(batch_id=batch_id, plan_change_ids=plan_change_ids)
    return {
        "done": run.done,
        "errors": run.errors,
        "failed": run.failed,
        "superseded": run.superseded,
        "changed_at_stripe": run.changed_at_stripe,
    }


# --- Reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceMoveCounts:
    by_status: dict[str, int]
    reasons: list[tuple[str, str, int]]  # (status, reason, count) of pending/failed moves

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def get(self, status: str) -> int:
        return self.by_status.get(status, 0)


def price_move_counts(*, batch_id: int | None = None) -> PriceMoveCounts:
    """Moves per status, and why the unfinished ones are not done (two grouped queries)."""
    scope = StripePriceMove.objects.all()
    if batch_id is not None:
        scope = scope.filter(batch_id=batch_id)
    by_status = dict(
        scope.order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    reasons = list(
        scope.filter(status__in=[PriceMoveStatus.PENDING, PriceMoveStatus.FAILED])
        .exclude(last_error="")
        .order_by()
        .values("status", "last_error")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("status", "last_error", "n")[:20]
    )
    return PriceMoveCounts(by_status=by_status, reasons=reasons)


def price_move_count_lines(counts: PriceMoveCounts) -> Iterable[str]:
    """The counts as the commands print them."""
    if not counts.total:
        yield "Stripe price moves: none."
        return
    parts = ", ".join(
        f"{counts.get(status):,} {label.lower()}"
        for status, label in PriceMoveStatus.choices
        if counts.get(status)
    )
    yield f"Stripe price moves: {parts}."
    for status, reason, count in counts.reasons:
        yield f"  {count:,} {status}: {reason}"


def cancellation_awaited(*, subscription_id: str) -> bool:
    """Whether our newest cancel-at-period-end or resume of this subscription has not reached
    Stripe yet (pending or failed): what Stripe says of its cancellation is then older than
    what we decided."""
    latest = (
        StripePriceMove.objects.filter(
            subscription_id=subscription_id, action__in=_CANCELLATION_STATE
        )
        .order_by("-id")
        .values_list("status", flat=True)
        .first()
    )
    return latest in (PriceMoveStatus.PENDING, PriceMoveStatus.FAILED)


def latest_move_awaited(*, subscription_id: str, price_ids: Iterable[str]) -> bool:
    """Whether our newest move of this subscription has not reached Stripe yet: it is pending
    or failed and the subscription is still on the price it moves from. The plan we recorded
    is then ahead of Stripe's (a price set at Stripe by anything else is not ours to hold)."""
    latest = (
        StripePriceMove.objects.filter(subscription_id=subscription_id)
        .exclude(action__in=_CANCELLATION_STATE)
        .order_by("-id")
        .values_list("status", "from_price_id", "to_price_id", "action")
        .first()
    )
    if latest is None:
        return False
    status, from_price, to_price, action = latest
    if action == StripeAction.CANCEL_NOW:
        # Our move to a free plan is ahead of the live subscription until Stripe ends it.
        return status in (PriceMoveStatus.PENDING, PriceMoveStatus.FAILED)
    prices = set(price_ids)
    return (
        status in (PriceMoveStatus.PENDING, PriceMoveStatus.FAILED)
        and to_price not in prices
        and (not from_price or from_price in prices)
    )
