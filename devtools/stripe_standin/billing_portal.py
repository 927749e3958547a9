"""The stand-in's billing portal: Stripe's hosted page where a customer updates the card, reads
the invoices and cancels, reached through `POST /v1/billing_portal/sessions`.

`BillingPortalStore` holds the operations (mixed into `Store`), `BillingPortalPages` the pages
at `/p/session/<id>` (mixed into the HTTP handler). What each button does, as Stripe does it:

* **Update payment method**: the new card pays every open invoice of the customer
  (`invoice.paid`, `invoice.payment_succeeded`), and a past-due subscription whose invoices are
  all paid becomes active again (`customer.subscription.updated`). Test cards 4000 0000 0000
  0002 and 4000 0000 0000 9995 are declined and change nothing.
* **Cancel plan**: `cancel_at_period_end` (`customer.subscription.updated`); the plan runs to
  the end of the paid period. **Don't cancel** undoes it.
* the helper `POST /_standin/subscriptions/<id>/period_end` is the calendar reaching the end of
  the period: a subscription set to cancel then is deleted (`customer.subscription.deleted`),
  any other renews as `/renew` does.
"""

from __future__ import annotations

import copy
import html
import re
from datetime import UTC, datetime

from devtools.stripe_standin import objects
from devtools.stripe_standin.objects import new_id

LIVE = ("active", "trialing", "past_due", "unpaid")
DECLINED_CARDS = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
}
_URL = re.compile(r"^https?://[^\s]+$")


def _luhn_ok(number: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


class BillingPortalStore:
    """Billing portal operations on the stand-in's objects (a mixin of `Store`)."""

    def billing_portal_session_create(self, params: dict, ctx) -> tuple[dict, list]:
        from devtools.stripe_standin.store import invalid, missing

        with self._lock:
            if not params.get("customer"):
                raise missing("customer")
            cust = self._get("customer", params["customer"])
            return_url = params.get("return_url") or None
            if return_url is not None and not _URL.match(str(return_url)):
                raise invalid("return_url", "Not a valid URL")
            session_id = new_id("bps_")
            session = objects.billing_portal_session(
                session_id=session_id,
                created=self.now(),
                customer_id=cust["id"],
                configuration="bpc_" + self.account["id"].removeprefix("acct_"),
                return_url=return_url,
                url=f"{self._public_url()}/p/session/{session_id}",
            )
            self._store("billing_portal.session", session)
            return self._answer(session, params), []

    def billing_portal_view(self, session_id: str) -> dict:
        """What the portal page shows: the session, its customer's live subscriptions and
        invoices (newest first, drafts left out)."""
        with self._lock:
            session = self._get("billing_portal.session", session_id)
            customer_id = session["customer"]
            subscriptions = [
                s
                for s in self._objects["subscription"].values()
                if s["customer"] == customer_id and s["status"] in LIVE
            ]
            invoices = [
                i
                for i in self._objects["invoice"].values()
                if i["customer"] == customer_id and i["status"] != "draft"
            ]
            return copy.deepcopy(
                {
                    "session": session,
                    "customer": self._get("customer", customer_id),
                    # Newest first; of one second, the one made last first.
                    "subscriptions": sorted(reversed(subscriptions), key=lambda s: -s["created"]),
                    "invoices": sorted(reversed(invoices), key=lambda i: -i["created"]),
                }
            )

    def billing_portal_card_update(self, session_id: str, card_number: str) -> tuple[dict, list]:
        """A new card pays the customer's open invoices; past-due subscriptions recover."""
        from devtools.stripe_standin.store import StandinError

        number = re.sub(r"[\s-]", "", card_number or "")
        if not number.isdigit() or not 13 <= len(number) <= 19 or not _luhn_ok(number):
            raise StandinError(
                402, "Your card number is invalid.", type_="card_error", code="invalid_number"
            )
        if number in DECLINED_CARDS:
            raise StandinError(
                402, DECLINED_CARDS[number], type_="card_error", code="card_declined"
            )
        with self._lock:
            session = self._get("billing_portal.session", session_id)
            customer_id = session["customer"]
            events: list = []
            paid = []
            for inv in self._objects["invoice"].values():
                if inv["customer"] == customer_id and inv["status"] == "open":
                    events += self._invoice_attempt(inv, paid=True)
                    paid.append(inv["id"])
            for sub in self._objects["subscription"].values():
                if sub["customer"] != customer_id or sub["status"] not in ("past_due", "unpaid"):
                    continue
                still_open = any(
                    i["status"] == "open"
                    and i["parent"]["subscription_details"]["subscription"] == sub["id"]
                    for i in self._objects["invoice"].values()
                )
                if still_open:
                    continue
                before = copy.deepcopy(sub)
                sub["status"] = "active"
                events.append(
                    self._emit(
                        "customer.subscription.updated", sub, previous=self._changed(before, sub)
                    )
                )
            return {"paid_invoices": paid, "card_last4": number[-4:]}, events

    def billing_portal_cancel(
        self, session_id: str, subscription_id: str, *, cancel: bool
    ) -> tuple[dict, list]:
        """Cancel at the period's end (`cancel=True`) or take that back (`cancel=False`)."""
        from devtools.stripe_standin.store import StandinError

        with self._lock:
            session = self._get("billing_portal.session", session_id)
            sub = self._get("subscription", subscription_id)
            if sub["customer"] != session["customer"]:
                raise StandinError(404, f"No such subscription: '{subscription_id}'")
            if sub["status"] not in LIVE:
                raise StandinError(400, f"This subscription is {sub['status']}.")
            if sub["cancel_at_period_end"] == cancel:
                return self._answer(sub), []
            before = copy.deepcopy(sub)
            self._cancel_at_period_end(sub, cancel)
            event = self._emit(
                "customer.subscription.updated", sub, previous=self._changed(before, sub)
            )
            return self._answer(sub), [event]

    def subscription_period_end(self, subscription_id: str, params: dict) -> tuple[dict, list]:
        """The calendar reaches the end of the current period: deleted if set to cancel then,
        else renewed (`subscription_renew` does both)."""
        return self.subscription_renew(subscription_id, params)


# --- pages ------------------------------------------------------------------------------------

_STYLE = (
    "*{box-sizing:border-box}body{font-family:system-ui,sans-serif;background:#f6f9fc;"
    "color:#1a1f36;margin:0;line-height:1.45}"
    ".wrap{max-width:720px;margin:0 auto;padding:24px 16px 48px}"
    "header{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:baseline;"
    "justify-content:space-between;margin-bottom:16px}"
    "header .biz{font-weight:600;font-size:18px}"
    "a{color:#635bff}section{background:#fff;border-radius:8px;padding:20px;margin:0 0 16px;"
    "box-shadow:0 2px 8px rgba(0,0,0,.08)}"
    "h1{font-size:22px;margin:0 0 16px}h2{font-size:13px;text-transform:uppercase;"
    "letter-spacing:.04em;color:#697386;margin:0 0 12px}"
    ".row{display:flex;flex-wrap:wrap;gap:8px 16px;justify-content:space-between;"
    "align-items:center}"
    ".plan{font-size:18px;font-weight:600}.muted{color:#697386;font-size:14px}"
    "button,.button{font:inherit;font-size:15px;padding:9px 16px;border-radius:6px;border:0;"
    "cursor:pointer;text-decoration:none;display:inline-block}"
    ".pay{background:#635bff;color:#fff}.secondary{background:#e3e8ee;color:#1a1f36}"
    ".danger{background:#df1b41;color:#fff}"
    "label{display:block;font-size:14px;margin:0 0 4px}input{font:inherit;width:100%;"
    "max-width:320px;padding:9px 10px;border:1px solid #c9d1db;border-radius:6px;"
    "margin:0}.field{display:flex;flex-wrap:wrap;gap:10px 12px;align-items:center}"
    ".badge{font-size:12px;font-weight:600;border-radius:4px;padding:2px 6px;"
    "background:#e3e8ee}.badge.paid{background:#d7f7c2;color:#05690d}"
    ".badge.open,.badge.past_due{background:#ffe7f2;color:#b3093c}"
    "table{width:100%;border-collapse:collapse;font-size:14px}"
    "td,th{text-align:left;padding:8px 4px;border-top:1px solid #e3e8ee}"
    "th{color:#697386;font-weight:500;border-top:0}.nowrap{white-space:nowrap}"
    ".num{text-align:right}"
    ".alert{border-radius:6px;padding:10px 12px;margin:0 0 16px}"
    ".alert.ok{background:#d7f7c2;color:#05690d}.alert.err{background:#ffe7f2;color:#b3093c}"
    ".note{font-size:13px;color:#697386}"
)


def _day(timestamp) -> str:
    if not timestamp:
        return ""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%B %Y}"


def _short_day(timestamp) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%b %Y}"


def _amount(cents: int, currency: str) -> str:
    text = f"{abs(cents) / 100:,.2f}"
    return f"${text}" if currency == "usd" else f"{text} {currency.upper()}"


class BillingPortalPages:
    """`/p/session/<id>`: the hosted billing portal page and its forms (a mixin of the HTTP
    handler in `server.py`)."""

    def _portal_page(self, status: int, title: str, content: str) -> int:
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<div class=wrap>{content}<p class=note>Local Stripe stand-in: no card is "
            "charged.</p></div></body></html>"
        )
        self._send(status, page.encode(), content_type="text/html; charset=utf-8")
        return status

    def _portal_view(self, session_id: str) -> dict | None:
        from devtools.stripe_standin.store import StandinError

        try:
            return self.standin.store.billing_portal_view(session_id)
        except StandinError:
            return None

    def _portal_gone(self) -> int:
        return self._portal_page(
            404,
            "Billing portal",
            "<section><h1>This billing portal link is not valid</h1>"
            "<p>Open the billing portal again from your account.</p></section>",
        )

    def page_billing_portal(self, *, id: str, params: dict, error: str = "") -> int:
        view = self._portal_view(id)
        if view is None:
            return self._portal_gone()
        confirm = params.get("confirm") == "cancel"
        return self._portal_page(
            402 if error else 200,
            "Billing portal",
            self._portal_content(
                id, view, done=params.get("done", ""), error=error, confirm=confirm
            ),
        )

    def _portal_content(self, session_id: str, view: dict, *, done, error, confirm) -> str:
        session, cust = view["session"], view["customer"]
        base = f"/p/session/{html.escape(session_id)}"
        business = self.standin.store.account["business_profile"]["name"]
        back = (
            f"<a href='{html.escape(session['return_url'])}' data-testid=portal-return>"
            "← Return to AI-Gate</a>"
            if session["return_url"]
            else ""
        )
        parts = [
            f"<header><span class=biz>{html.escape(business)}</span>{back}</header>",
            "<h1>Billing</h1>",
            f"<p class=muted>Signed in as {html.escape(cust['email'] or cust['id'])}</p>",
        ]
        messages = {
            "card": "Your payment method is updated. Open invoices are paid.",
            "cancel": "Your plan is canceled. It stays active until the end of the period.",
            "keep": "Your plan is no longer set to cancel.",
        }
        if done in messages:
            parts.append(f"<p class='alert ok' role=status>{messages[done]}</p>")
        if error:
            parts.append(f"<p class='alert err' role=alert>{html.escape(error)}</p>")
        open_invoices = [i for i in view["invoices"] if i["status"] == "open"]
        subs = view["subscriptions"]
        if confirm and subs:
            sub = subs[0]
            end = _day(sub["items"]["data"][0]["current_period_end"])
            parts.append(
                "<section aria-labelledby=confirm-title><h2 id=confirm-title>Cancel your plan"
                f"</h2><p>Your plan stays active until <b>{end}</b>, then it is canceled and "
                "you are no longer charged.</p>"
                f"<form method=post action='{base}/cancel' class=row>"
                f"<input type=hidden name=subscription value='{html.escape(sub['id'])}'>"
                "<button class=danger>Cancel plan</button>"
                f"<a class='button secondary' href='{base}'>Go back</a></form></section>"
            )
            return "".join(parts)
        parts.append(self._portal_plan_section(base, subs))
        parts.append(self._portal_card_section(base, open_invoices))
        parts.append(self._portal_invoice_section(view["invoices"]))
        return "".join(parts)

    def _portal_plan_section(self, base: str, subs: list[dict]) -> str:
        if not subs:
            return "<section><h2>Current plan</h2><p>No active subscription.</p></section>"
        rows = []
        for sub in subs:
            item = sub["items"]["data"][0]
            price = item["price"]
            product = self.standin.store._objects["product"].get(price["product"], {})
            end = _day(item["current_period_end"])
            if sub["cancel_at_period_end"]:
                state = f"Cancels on {end}"
                action = (
                    f"<form method=post action='{base}/keep'>"
                    f"<input type=hidden name=subscription value='{html.escape(sub['id'])}'>"
                    "<button class=pay>Don't cancel</button></form>"
                )
            else:
                state = f"Renews on {end}"
                action = f"<a class='button secondary' href='{base}?confirm=cancel'>Cancel plan</a>"
            badge = (
                "<span class='badge past_due'>Past due</span>"
                if sub["status"] in ("past_due", "unpaid")
                else ""
            )
            rows.append(
                "<div class=row><div>"
                f"<div class=plan>{html.escape(product.get('name') or price['id'])} {badge}</div>"
                f"<div>{_amount(price['unit_amount'], price['currency'])} per "
                f"{html.escape(price['recurring']['interval'])}</div>"
                f"<div class=muted data-testid=portal-plan-state>{state}</div></div>"
                f"{action}</div>"
            )
        return (
            "<section aria-labelledby=plan-title><h2 id=plan-title>Current plan</h2>"
            + "".join(rows)
            + "</section>"
        )

    def _portal_card_section(self, base: str, open_invoices: list[dict]) -> str:
        due = sum(i["amount_remaining"] for i in open_invoices)
        owed = (
            f"<p class='alert err'>{len(open_invoices)} open invoice"
            f"{'s' if len(open_invoices) != 1 else ''}: "
            f"{_amount(due, open_invoices[0]['currency'])} due. Your new card pays it now.</p>"
            if open_invoices
            else ""
        )
        return (
            "<section aria-labelledby=card-title><h2 id=card-title>Payment method</h2>"
            f"{owed}<form method=post action='{base}/card'>"
            "<label for=card>Card number</label>"
            "<div class=field><input id=card name=card inputmode=numeric "
            "autocomplete=cc-number value='4242 4242 4242 4242'>"
            "<button class=pay>Update payment method</button></div></form></section>"
        )

    def _portal_invoice_section(self, invoices: list[dict]) -> str:
        if not invoices:
            return "<section><h2>Invoice history</h2><p class=muted>No invoices yet.</p></section>"
        rows = "".join(
            f"<tr><td class=nowrap>{_short_day(i['created'])}</td>"
            f"<td class='num nowrap'>{_amount(i['total'], i['currency'])}</td>"
            f"<td><span class='badge {html.escape(i['status'])}'>"
            f"{html.escape(i['status'].capitalize())}</span></td>"
            f"<td><a href='{html.escape(i['hosted_invoice_url'])}'>"
            f"{html.escape(i['number'] or i['id'])}</a></td></tr>"
            for i in invoices
        )
        return (
            "<section aria-labelledby=invoices-title><h2 id=invoices-title>Invoice history</h2>"
            "<table><thead><tr><th>Date</th><th class=num>Amount</th><th>Status</th>"
            f"<th>Invoice</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )

    def page_billing_portal_card(self, *, id: str, params: dict) -> int:
        from devtools.stripe_standin.store import StandinError

        if self._portal_view(id) is None:
            return self._portal_gone()
        try:
            _, events = self.standin.store.billing_portal_card_update(id, params.get("card", ""))
        except StandinError as exc:
            return self.page_billing_portal(id=id, params={}, error=exc.body["error"]["message"])
        self._wait(self.standin.dispatch(events))
        return self._redirect(f"/p/session/{id}?done=card")

    def page_billing_portal_cancel(self, *, id: str, params: dict) -> int:
        return self._portal_cancel(id, params, cancel=True)

    def page_billing_portal_keep(self, *, id: str, params: dict) -> int:
        return self._portal_cancel(id, params, cancel=False)

    def _portal_cancel(self, session_id: str, params: dict, *, cancel: bool) -> int:
        from devtools.stripe_standin.store import StandinError

        if self._portal_view(session_id) is None:
            return self._portal_gone()
        try:
            _, events = self.standin.store.billing_portal_cancel(
                session_id, params.get("subscription", ""), cancel=cancel
            )
        except StandinError as exc:
            return self.page_billing_portal(
                id=session_id, params={}, error=exc.body["error"]["message"]
            )
        self._wait(self.standin.dispatch(events))
        return self._redirect(f"/p/session/{session_id}?done={'cancel' if cancel else 'keep'}")

    def helper_period_end(self, *, id: str, params: dict) -> int:
        sub, events = self.standin.store.subscription_period_end(id, params)
        self._wait(self.standin.dispatch(events))
        return self._json(200, sub)
