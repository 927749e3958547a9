"""The stand-in's state: Stripe objects in memory and the operations that change them.

Every operation takes the lock, changes the objects, records the events Stripe would create
and returns deep copies, so that serialising an answer or delivering an event never races a
later change. Delivery itself happens outside the lock (see `server.py`): a webhook handler
calls back into the API while its event is being delivered.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from devtools.stripe_standin import objects
from devtools.stripe_standin.billing_portal import BillingPortalStore
from devtools.stripe_standin.objects import add_month, day_of, new_id

# Object kind → (id field name in other objects, the name Stripe uses in "No such …" errors).
_NOT_FOUND_NAMES = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "checkout.session": "checkout.session",
    "subscription": "subscription",
    "subscription_item": "subscription_item",
    "invoice": "invoice",
    "event": "event",
    "billing_portal.session": "billing_portal.session",
}
# Fields holding the id of another object, and the kind they point at (for `expand`).
_ID_FIELDS = {
    "customer": "customer",
    "product": "product",
    "default_price": "price",
    "price": "price",
    "subscription": "subscription",
    "latest_invoice": "invoice",
    "invoice": "invoice",
}
PRORATION_BEHAVIORS = {"create_prorations", "none", "always_invoice"}
LIVE_SUBSCRIPTION_STATUSES = {"active", "trialing", "past_due", "unpaid"}


class StandinError(Exception):
    """An answer in Stripe's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = objects.error(message, type_=type_, code=code, param=param)


def missing(param: str) -> StandinError:
    return StandinError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid(param: str, message: str) -> StandinError:
    return StandinError(400, message, code="parameter_invalid", param=param)


@dataclass(frozen=True)
class RequestContext:
    """Who asked: events created by an API request name it, as Stripe's do."""

    request_id: str | None = None
    idempotency_key: str | None = None


AUTOMATIC = RequestContext()


def as_bool(value, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise invalid(param, f"Invalid boolean: {value!r}")


def as_int(value, param: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(param, f"Invalid integer: {value!r}") from None
    if number < minimum:
        raise invalid(param, f"This value must be greater than or equal to {minimum}.")
    return number


def as_list(value, param: str) -> list:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    raise invalid(param, f"Invalid array: {value!r}")


def merged_metadata(current: dict, update, param: str = "metadata") -> dict:
    """Stripe's rule: keys are merged, a key set to "" is removed, metadata="" clears all."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid(param, "Invalid object")
    result = dict(current)
    for key, value in update.items():
        if value == "":
            result.pop(key, None)
        else:
            result[key] = str(value)
    return result


class Store(BillingPortalStore):
    def __init__(self, *, public_url: Callable[[], str], clock: Callable[[], float] = time.time):
        self._lock = threading.RLock()
        self._public_url = public_url
        self._clock = clock
        self.account = objects.account(account_id=new_id("acct_", 16), created=self.now())
        self._objects: dict[str, dict[str, dict]] = {kind: {} for kind in _NOT_FOUND_NAMES}
        self._session_lines: dict[str, list[dict]] = {}
        self._session_subscription_metadata: dict[str, dict] = {}

    # --- persistence (optional: `make run` keeps the stand-in's objects across restarts) -----

    def snapshot(self) -> dict:
        with self._lock:
            return copy.deepcopy(
                {
                    "account": self.account,
                    "objects": self._objects,
                    "session_lines": self._session_lines,
                    "session_subscription_metadata": self._session_subscription_metadata,
                }
            )

    def restore(self, state: dict) -> None:
        with self._lock:
            self.account = state["account"]
            for kind, objs in state["objects"].items():
                self._objects[kind] = dict(objs)
            self._session_lines = state["session_lines"]
            self._session_subscription_metadata = state["session_subscription_metadata"]

    # --- helpers ----------------------------------------------------------------------------

    def now(self) -> int:
        return int(self._clock())

    def _get(self, kind: str, object_id: str) -> dict:
        try:
            return self._objects[kind][object_id]
        except KeyError:
            raise StandinError(
                404,
                f"No such {_NOT_FOUND_NAMES[kind]}: '{object_id}'",
                code="resource_missing",
                param="id",
            ) from None

    def _store(self, kind: str, obj: dict) -> dict:
        self._objects[kind][obj["id"]] = obj
        return obj

    def _emit(
        self,
        event_type: str,
        obj: dict,
        ctx: RequestContext = AUTOMATIC,
        previous: dict | None = None,
    ) -> dict:
        event = objects.event(
            event_id=new_id("evt_"),
            created=self.now(),
            event_type=event_type,
            obj=copy.deepcopy(obj),
            previous_attributes=previous,
            request_id=ctx.request_id,
            idempotency_key=ctx.idempotency_key,
        )
        return self._store("event", event)

    @staticmethod
    def _changed(before: dict, after: dict) -> dict:
        """Stripe's `previous_attributes`: the old value of each top-level field that changed."""
        return {key: before.get(key) for key in after if before.get(key) != after.get(key)}

    def _page(self, items: list[dict], params: dict, url: str) -> dict:
        """Newest first, with Stripe's `limit`, `starting_after` and `ending_before`."""
        limit = as_int(params.get("limit", 10), "limit", minimum=1)
        if limit > 100:
            raise invalid("limit", "This value must be less than or equal to 100.")
        items = list(reversed(items))
        ids = [item["id"] for item in items]
        if params.get("starting_after"):
            anchor = params["starting_after"]
            if anchor not in ids:
                raise invalid("starting_after", f"No such object: '{anchor}'")
            items = items[ids.index(anchor) + 1 :]
        elif params.get("ending_before"):
            anchor = params["ending_before"]
            if anchor not in ids:
                raise invalid("ending_before", f"No such object: '{anchor}'")
            items = items[: ids.index(anchor)][-limit:]
        page = items[:limit]
        return objects.list_object(copy.deepcopy(page), url, has_more=len(items) > limit)

    def _answer(self, obj: dict, params: dict | None = None) -> dict:
        answer = copy.deepcopy(obj)
        for path in as_list((params or {}).get("expand"), "expand"):
            self._expand(answer, str(path).split("."))
        return answer

    def _answer_list(self, page: dict, params: dict) -> dict:
        for path in as_list(params.get("expand"), "expand"):
            self._expand(page, str(path).split("."))
        return page

    def _expand(self, obj, parts: list[str]) -> None:
        if not parts or not isinstance(obj, dict):
            return
        head, rest = parts[0], parts[1:]
        if obj.get("object") == "list" and head == "data":
            for item in obj["data"]:
                self._expand(item, rest)
            return
        kind = obj.get("object")
        if kind == "checkout.session" and head == "line_items":
            obj[head] = objects.list_object(
                copy.deepcopy(self._session_lines.get(obj["id"], [])),
                f"/v1/checkout/sessions/{obj['id']}/line_items",
            )
        elif kind == "customer" and head == "sources":
            obj[head] = objects.list_object([], f"/v1/customers/{obj['id']}/sources")
        elif kind == "customer" and head == "subscriptions":
            subs = [
                s
                for s in self._objects["subscription"].values()
                if s["customer"] == obj["id"] and s["status"] != "canceled"
            ]
            obj[head] = objects.list_object(
                copy.deepcopy(subs), f"/v1/customers/{obj['id']}/subscriptions"
            )
        elif kind == "price" and head == "currency_options":
            obj[head] = {
                obj["currency"]: {
                    "custom_unit_amount": None,
                    "tax_behavior": obj["tax_behavior"],
                    "unit_amount": obj["unit_amount"],
                    "unit_amount_decimal": obj["unit_amount_decimal"],
                }
            }
        elif head == "breakdown" and "amount_discount" in obj:  # total_details.breakdown
            obj[head] = {"discounts": [], "taxes": []}
        elif isinstance(obj.get(head), str) and head in _ID_FIELDS:
            target = self._objects[_ID_FIELDS[head]].get(obj[head])
            if target is not None:
                obj[head] = copy.deepcopy(target)
        value = obj.get(head)
        if isinstance(value, list):
            for item in value:
                self._expand(item, rest)
        else:
            self._expand(value, rest)

    def events_created_since(self, marker: int) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._objects["event"].values())[marker:])

    def event_count(self) -> int:
        with self._lock:
            return len(self._objects["event"])

    def event_delivered(self, event_id: str) -> None:
        with self._lock:
            event = self._objects["event"].get(event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    def event_pending(self, event_id: str) -> None:
        with self._lock:
            self._get("event", event_id)["pending_webhooks"] += 1

    # --- account ----------------------------------------------------------------------------

    def account_get(self) -> dict:
        with self._lock:
            return copy.deepcopy(self.account)

    # --- customers --------------------------------------------------------------------------

    def customer_create(self, params: dict, ctx: RequestContext) -> tuple[dict, list]:
        with self._lock:
            cust = self._new_customer(
                email=params.get("email"),
                name=params.get("name"),
                description=params.get("description"),
                phone=params.get("phone"),
                metadata=merged_metadata({}, params.get("metadata")),
            )
            event = self._emit("customer.created", cust, ctx)
            return self._answer(cust, params), [event]

    def _new_customer(self, *, email, name=None, description=None, phone=None, metadata=None):
        return self._store(
            "customer",
            objects.customer(
                customer_id=new_id("cus_", 14),
                created=self.now(),
                email=email or None,
                name=name or None,
                description=description or None,
                phone=phone or None,
                metadata=metadata or {},
            ),
        )

    def customer_get(self, customer_id: str, params: dict) -> dict:
        with self._lock:
            return self._answer(self._get("customer", customer_id), params)

    def customer_update(self, customer_id: str, params: dict, ctx) -> tuple[dict, list]:
        with self._lock:
            cust = self._get("customer", customer_id)
            before = copy.deepcopy(cust)
            for field in ("email", "name", "description", "phone"):
                if field in params:
                    cust[field] = params[field] or None
            cust["metadata"] = merged_metadata(cust["metadata"], params.get("metadata"))
            changed = self._changed(before, cust)
            events = [self._emit("customer.updated", cust, ctx, changed)] if changed else []
            return self._answer(cust, params), events

    def customer_list(self, params: dict) -> dict:
        with self._lock:
            items = list(self._objects["customer"].values())
            if params.get("email"):
                items = [c for c in items if c["email"] == params["email"]]
            return self._answer_list(self._page(items, params, "/v1/customers"), params)

    # --- products ---------------------------------------------------------------------------

    def product_create(self, params: dict, ctx: RequestContext) -> tuple[dict, list]:
        with self._lock:
            if not params.get("name"):
                raise missing("name")
            product_id = params.get("id") or new_id("prod_", 14)
            if product_id in self._objects["product"]:
                raise StandinError(
                    400,
                    f"Product already exists: '{product_id}'",
                    code="resource_already_exists",
                    param="id",
                )
            prod = objects.product(
                product_id=product_id,
                created=self.now(),
                name=params["name"],
                description=params.get("description") or None,
                metadata=merged_metadata({}, params.get("metadata")),
            )
            if "active" in params:
                prod["active"] = as_bool(params["active"], "active")
            self._store("product", prod)
            return self._answer(prod, params), [self._emit("product.created", prod, ctx)]

    def product_get(self, product_id: str, params: dict) -> dict:
        with self._lock:
            return self._answer(self._get("product", product_id), params)

    def product_update(self, product_id: str, params: dict, ctx) -> tuple[dict, list]:
        with self._lock:
            prod = self._get("product", product_id)
            before = copy.deepcopy(prod)
            if "name" in params:
                if not params["name"]:
                    raise invalid("name", "You must provide a non-empty name.")
                prod["name"] = params["name"]
            if "description" in params:
                prod["description"] = params["description"] or None
            if "active" in params:
                prod["active"] = as_bool(params["active"], "active")
            if "default_price" in params:
                if params["default_price"]:
                    self._get("price", params["default_price"])
                prod["default_price"] = params["default_price"] or None
            prod["metadata"] = merged_metadata(prod["metadata"], params.get("metadata"))
            changed = self._changed(before, prod)
            events = []
            if changed:
                prod["updated"] = self.now()
                events.append(self._emit("product.updated", prod, ctx, changed))
            return self._answer(prod, params), events

    def product_list(self, params: dict) -> dict:
        with self._lock:
            items = list(self._objects["product"].values())
            if "active" in params:
                active = as_bool(params["active"], "active")
                items = [p for p in items if p["active"] == active]
            ids = as_list(params.get("ids"), "ids")
            if ids:
                items = [p for p in items if p["id"] in ids]
            return self._answer_list(self._page(items, params, "/v1/products"), params)

    def product_features(self, product_id: str, params: dict) -> dict:
        with self._lock:
            self._get("product", product_id)
            return self._page([], params, f"/v1/products/{product_id}/features")

    # --- prices -----------------------------------------------------------------------------

    def price_create(self, params: dict, ctx: RequestContext) -> tuple[dict, list]:
        with self._lock:
            for required in ("currency", "product", "unit_amount"):
                if params.get(required) in (None, ""):
                    raise missing(required)
            prod = self._get("product", params["product"])
            rec = params.get("recurring")
            recurring = None
            if rec:
                interval = rec.get("interval") if isinstance(rec, dict) else None
                if interval not in ("day", "week", "month", "year"):
                    raise invalid("recurring[interval]", "Invalid recurring[interval].")
                recurring = objects.recurring(
                    interval=interval,
                    interval_count=as_int(
                        rec.get("interval_count", 1), "recurring[interval_count]", 1
                    ),
                )
            lookup_key = params.get("lookup_key") or None
            transfer = as_bool(params.get("transfer_lookup_key", "false"), "transfer_lookup_key")
            self._claim_lookup_key(lookup_key, transfer)
            new = objects.price(
                price_id=new_id("price_"),
                created=self.now(),
                product_id=prod["id"],
                unit_amount=as_int(params["unit_amount"], "unit_amount"),
                currency=str(params["currency"]).lower(),
                recurring=recurring,
                lookup_key=lookup_key,
                nickname=params.get("nickname") or None,
                metadata=merged_metadata({}, params.get("metadata")),
            )
            if "active" in params:
                new["active"] = as_bool(params["active"], "active")
            self._store("price", new)
            return self._answer(new, params), [self._emit("price.created", new, ctx)]

    def _claim_lookup_key(self, lookup_key, transfer: bool, owner: str | None = None) -> list:
        """Stripe keeps lookup keys unique: a taken key is an error unless it is transferred."""
        events = []
        if not lookup_key:
            return events
        for other in self._objects["price"].values():
            if other["lookup_key"] == lookup_key and other["id"] != owner:
                if not transfer:
                    raise invalid(
                        "lookup_key",
                        f"A price ({other['id']}) already uses that lookup key.",
                    )
                before = copy.deepcopy(other)
                other["lookup_key"] = None
                events.append(
                    self._emit("price.updated", other, previous=self._changed(before, other))
                )
        return events

    def price_get(self, price_id: str, params: dict) -> dict:
        with self._lock:
            return self._answer(self._get("price", price_id), params)

    def price_update(self, price_id: str, params: dict, ctx) -> tuple[dict, list]:
        with self._lock:
            existing = self._get("price", price_id)
            before = copy.deepcopy(existing)
            events = []
            if "lookup_key" in params:
                transfer = as_bool(
                    params.get("transfer_lookup_key", "false"), "transfer_lookup_key"
                )
                events += self._claim_lookup_key(params["lookup_key"], transfer, owner=price_id)
                existing["lookup_key"] = params["lookup_key"] or None
            if "active" in params:
                existing["active"] = as_bool(params["active"], "active")
            if "nickname" in params:
                existing["nickname"] = params["nickname"] or None
            existing["metadata"] = merged_metadata(existing["metadata"], params.get("metadata"))
            changed = self._changed(before, existing)
            if changed:
                events.append(self._emit("price.updated", existing, ctx, changed))
            return self._answer(existing, params), events

    def price_list(self, params: dict) -> dict:
        with self._lock:
            items = list(self._objects["price"].values())
            if "active" in params:
                active = as_bool(params["active"], "active")
                items = [p for p in items if p["active"] == active]
            for field in ("product", "currency", "type"):
                if params.get(field):
                    items = [p for p in items if p[field] == params[field]]
            lookup_keys = as_list(params.get("lookup_keys"), "lookup_keys")
            if lookup_keys:
                items = [p for p in items if p["lookup_key"] in lookup_keys]
            rec = params.get("recurring")
            if isinstance(rec, dict) and rec.get("interval"):
                items = [
                    p
                    for p in items
                    if p["recurring"] and p["recurring"]["interval"] == rec["interval"]
                ]
            return self._answer_list(self._page(items, params, "/v1/prices"), params)

    # --- checkout sessions ------------------------------------------------------------------

    def session_create(self, params: dict, ctx: RequestContext) -> tuple[dict, list]:
        with self._lock:
            mode = params.get("mode")
            if not mode:
                raise missing("mode")
            if mode != "subscription":
                raise invalid("mode", "The Stripe stand-in supports mode=subscription only.")
            if not params.get("success_url"):
                raise missing("success_url")
            customer_id = params.get("customer") or None
            if customer_id:
                self._get("customer", customer_id)
                if params.get("customer_email"):
                    raise invalid(
                        "customer_email",
                        "You may only specify one of these parameters: customer, customer_email.",
                    )
            raw_items = as_list(params.get("line_items"), "line_items")
            if not raw_items:
                raise missing("line_items")
            lines = []
            currencies = set()
            for index, raw in enumerate(raw_items):
                param = f"line_items[{index}][price]"
                if not isinstance(raw, dict) or not raw.get("price"):
                    raise missing(param)
                price_obj = self._get("price", raw["price"])
                if not price_obj["active"]:
                    raise invalid(param, f"The price specified ({price_obj['id']}) is inactive.")
                if not price_obj["recurring"]:
                    raise invalid(
                        param,
                        "You must specify at least one recurring price in subscription mode.",
                    )
                quantity = as_int(raw.get("quantity", 1), f"line_items[{index}][quantity]", 1)
                product_name = self._objects["product"][price_obj["product"]]["name"]
                lines.append(
                    objects.checkout_line_item(
                        price_obj=price_obj, product_name=product_name, quantity=quantity
                    )
                )
                currencies.add(price_obj["currency"])
            if len(currencies) > 1:
                raise invalid("line_items", "All prices must use the same currency.")
            session_id = new_id("cs_test_", 58)
            session = objects.checkout_session(
                session_id=session_id,
                created=self.now(),
                url=f"{self._public_url()}/c/pay/{session_id}",
                mode=mode,
                customer_id=customer_id,
                customer_email=params.get("customer_email") or None,
                client_reference_id=params.get("client_reference_id") or None,
                metadata=merged_metadata({}, params.get("metadata")),
                success_url=params["success_url"],
                cancel_url=params.get("cancel_url") or None,
                amount=sum(line["amount_total"] for line in lines),
                currency=currencies.pop(),
            )
            subscription_data = params.get("subscription_data")
            if not isinstance(subscription_data, dict):
                subscription_data = {}
            self._session_subscription_metadata[session_id] = merged_metadata(
                {}, subscription_data.get("metadata"), "subscription_data[metadata]"
            )
            self._session_lines[session_id] = lines
            self._store("checkout.session", session)
            return self._answer(session, params), []

    def session_get(self, session_id: str, params: dict) -> dict:
        with self._lock:
            return self._answer(self._get("checkout.session", session_id), params)

    def session_line_items(self, session_id: str, params: dict) -> dict:
        with self._lock:
            self._get("checkout.session", session_id)
            url = f"/v1/checkout/sessions/{session_id}/line_items"
            # Line items are listed in the order they were given, not newest first.
            return self._page(list(reversed(self._session_lines[session_id])), params, url)

    def session_list(self, params: dict) -> dict:
        with self._lock:
            items = list(self._objects["checkout.session"].values())
            for field in ("customer", "subscription", "status"):
                if params.get(field):
                    items = [s for s in items if s[field] == params[field]]
            return self._answer_list(self._page(items, params, "/v1/checkout/sessions"), params)

    def session_expire(self, session_id: str, params: dict, ctx) -> tuple[dict, list]:
        with self._lock:
            session = self._get("checkout.session", session_id)
            if session["status"] != "open":
                raise StandinError(
                    400, "Only Checkout Sessions with a status of `open` can be expired."
                )
            session["status"] = "expired"
            session["url"] = None
            event = self._emit("checkout.session.expired", session, ctx)
            return self._answer(session, params), [event]

    def session_complete(self, session_id: str, params: dict) -> tuple[dict, list]:
        """The customer paid on the hosted page: customer, subscription, paid invoice."""
        with self._lock:
            session = self._get("checkout.session", session_id)
            if session["status"] != "open":
                raise StandinError(
                    400,
                    f"Checkout Session {session_id} is {session['status']}; "
                    "only an open session can be completed.",
                )
            events = []
            if session["customer"]:
                cust = self._get("customer", session["customer"])
            else:
                email = params.get("email") or session["customer_email"] or "buyer@example.com"
                cust = self._new_customer(email=email, name=params.get("name"))
                events.append(self._emit("customer.created", cust))
            if cust["currency"] is None:
                cust["currency"] = session["currency"]
            now = self.now()
            sub = objects.subscription(
                subscription_id=new_id("sub_"),
                created=now,
                customer_id=cust["id"],
                currency=session["currency"],
                metadata=self._session_subscription_metadata.get(session_id, {}),
            )
            period = (now, add_month(now, anchor_day=day_of(now)))
            for line in self._session_lines[session_id]:
                sub["items"]["data"].append(
                    objects.subscription_item(
                        item_id=new_id("si_", 14),
                        created=now,
                        subscription_id=sub["id"],
                        price_obj=copy.deepcopy(self._get("price", line["price"]["id"])),
                        quantity=line["quantity"],
                        period=period,
                    )
                )
            self._store("subscription", sub)
            inv = self._new_invoice(cust, sub, "subscription_create", period=(now, now))
            sub["latest_invoice"] = inv["id"]
            events.append(self._emit("customer.subscription.created", sub))
            events += self._invoice_collect(inv, paid=True)
            session.update(
                {
                    "customer": cust["id"],
                    "customer_details": objects.customer_details(cust),
                    "collected_information": {
                        "business_name": None,
                        "individual_name": None,
                        "shipping_details": None,
                    },
                    "payment_status": "paid",
                    "status": "complete",
                    "subscription": sub["id"],
                    "url": None,
                }
            )
            events.append(self._emit("checkout.session.completed", session))
            return self._answer(session, params), events

    # --- subscriptions ----------------------------------------------------------------------

    def subscription_get(self, subscription_id: str, params: dict) -> dict:
        with self._lock:
            return self._answer(self._get("subscription", subscription_id), params)

    def subscription_list(self, params: dict) -> dict:
        with self._lock:
            items = list(self._objects["subscription"].values())
            status = params.get("status")
            if status in (None, ""):
                items = [s for s in items if s["status"] != "canceled"]
            elif status == "ended":
                items = [s for s in items if s["status"] in ("canceled", "incomplete_expired")]
            elif status != "all":
                items = [s for s in items if s["status"] == status]
            if params.get("customer"):
                items = [s for s in items if s["customer"] == params["customer"]]
            if params.get("price"):
                items = [
                    s
                    for s in items
                    if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])
                ]
            return self._answer_list(self._page(items, params, "/v1/subscriptions"), params)

    def subscription_items_list(self, params: dict) -> dict:
        with self._lock:
            if not params.get("subscription"):
                raise missing("subscription")
            sub = self._get("subscription", params["subscription"])
            url = f"/v1/subscription_items?subscription={sub['id']}"
            return self._page(list(reversed(sub["items"]["data"])), params, url)

    def subscription_item_get(self, item_id: str, params: dict) -> dict:
        with self._lock:
            for sub in self._objects["subscription"].values():
                for item in sub["items"]["data"]:
                    if item["id"] == item_id:
                        return self._answer(item, params)
            # Items live inside their subscriptions; none holds this one.
            return self._get("subscription_item", item_id)  # raises Stripe's 404

    def subscription_update(self, subscription_id: str, params: dict, ctx) -> tuple[dict, list]:
        with self._lock:
            sub = self._get("subscription", subscription_id)
            if sub["status"] in ("canceled", "incomplete_expired"):
                allowed = {"metadata", "cancellation_details", "expand"}
                if set(params) - allowed:
                    raise StandinError(
                        400,
                        "A canceled subscription can only update its cancellation_details "
                        "and metadata.",
                    )
            behavior = params.get("proration_behavior")
            if behavior is not None and behavior not in PRORATION_BEHAVIORS:
                raise invalid(
                    "proration_behavior",
                    f"Invalid proration_behavior: must be one of {sorted(PRORATION_BEHAVIORS)}",
                )
            before = copy.deepcopy(sub)
            for index, raw in enumerate(as_list(params.get("items"), "items")):
                self._subscription_item_change(sub, raw, index)
            if "cancel_at_period_end" in params:
                self._cancel_at_period_end(
                    sub, as_bool(params["cancel_at_period_end"], "cancel_at_period_end")
                )
            sub["metadata"] = merged_metadata(sub["metadata"], params.get("metadata"))
            changed = self._changed(before, sub)
            events = []
            if changed:
                events.append(self._emit("customer.subscription.updated", sub, ctx, changed))
            return self._answer(sub, params), events

    def _subscription_item_change(self, sub: dict, raw, index: int) -> None:
        param = f"items[{index}]"
        if not isinstance(raw, dict):
            raise invalid(param, "Invalid object")
        items = sub["items"]["data"]
        if raw.get("id"):
            item = next((i for i in items if i["id"] == raw["id"]), None)
            if item is None:
                raise invalid(
                    f"{param}[id]",
                    f"Subscription item {raw['id']} does not belong to {sub['id']}.",
                )
            if raw.get("deleted") and as_bool(raw["deleted"], f"{param}[deleted]"):
                items.remove(item)
                return
        else:
            if not raw.get("price"):
                raise missing(f"{param}[price]")
            start, end = (
                (items[0]["current_period_start"], items[0]["current_period_end"])
                if items
                else (self.now(), add_month(self.now(), anchor_day=day_of(self.now())))
            )
            item = objects.subscription_item(
                item_id=new_id("si_", 14),
                created=self.now(),
                subscription_id=sub["id"],
                price_obj=self._get("price", raw["price"]),
                quantity=1,
                period=(start, end),
            )
            items.append(item)
        if raw.get("price"):
            new_price = self._get("price", raw["price"])
            if not new_price["recurring"]:
                raise invalid(f"{param}[price]", "The price must be recurring.")
            if new_price["currency"] != sub["currency"]:
                raise invalid(f"{param}[price]", "The price's currency must match.")
            item["price"] = copy.deepcopy(new_price)
            item["plan"] = objects.legacy_plan(new_price)
        if "quantity" in raw:
            item["quantity"] = as_int(raw["quantity"], f"{param}[quantity]", 1)

    def subscription_cancel(self, subscription_id: str, params: dict, ctx) -> tuple[dict, list]:
        with self._lock:
            sub = self._get("subscription", subscription_id)
            if sub["status"] in ("canceled", "incomplete_expired"):
                raise StandinError(
                    400,
                    f"This subscription is already canceled: '{subscription_id}'",
                    param="subscription",
                )
            before = copy.deepcopy(sub)
            details = params.get("cancellation_details")
            self._subscription_end(sub, self.now(), details if isinstance(details, dict) else {})
            event = self._emit(
                "customer.subscription.deleted", sub, ctx, self._changed(before, sub)
            )
            return self._answer(sub, params), [event]

    @staticmethod
    def _subscription_end(sub: dict, at: int, details: dict) -> None:
        """The subscription ends at `at` (now, or its period's end)."""
        sub.update(
            {
                "status": "canceled",
                "canceled_at": at,
                "ended_at": at,
                "cancel_at": None,
                "cancel_at_period_end": False,
                "cancellation_details": {
                    "comment": details.get("comment") or None,
                    "feedback": details.get("feedback") or None,
                    "reason": "cancellation_requested",
                },
            }
        )

    def subscription_fail_payment(self, subscription_id: str, params: dict) -> tuple[dict, list]:
        """The subscription renews and the renewal payment fails: open invoice, past_due."""
        return self._subscription_cycle(subscription_id, params, paid=False)

    def subscription_renew(self, subscription_id: str, params: dict) -> tuple[dict, list]:
        """The subscription renews for its next period and the invoice is paid: active. One
        set to cancel at the period's end ends instead, as Stripe does then."""
        with self._lock:
            sub = self._get("subscription", subscription_id)
            if sub["status"] in LIVE_SUBSCRIPTION_STATUSES and sub.get("cancel_at_period_end"):
                return self._subscription_period_end_cancel(subscription_id, params)
        return self._subscription_cycle(subscription_id, params, paid=True)

    def _subscription_period_end_cancel(self, subscription_id: str, params: dict):
        with self._lock:
            sub = self._get("subscription", subscription_id)
            before = copy.deepcopy(sub)
            self._subscription_end(sub, sub["items"]["data"][0]["current_period_end"], {})
            event = self._emit(
                "customer.subscription.deleted", sub, previous=self._changed(before, sub)
            )
            return self._answer(sub, params), [event]

    def _subscription_cycle(self, subscription_id: str, params: dict, *, paid: bool):
        with self._lock:
            sub = self._get("subscription", subscription_id)
            if sub["status"] not in LIVE_SUBSCRIPTION_STATUSES:
                raise StandinError(
                    400,
                    f"Subscription {subscription_id} is {sub['status']}; it cannot renew.",
                )
            cust = self._get("customer", sub["customer"])
            before = copy.deepcopy(sub)
            old_start = sub["items"]["data"][0]["current_period_start"]
            old_end = sub["items"]["data"][0]["current_period_end"]
            new_end = add_month(old_end, anchor_day=day_of(sub["billing_cycle_anchor"]))
            for item in sub["items"]["data"]:
                item["current_period_start"], item["current_period_end"] = old_end, new_end
            inv = self._new_invoice(cust, sub, "subscription_cycle", period=(old_start, old_end))
            sub["latest_invoice"] = inv["id"]
            events = self._invoice_collect(inv, paid=paid)
            sub["status"] = "active" if paid else "past_due"
            events.append(
                self._emit(
                    "customer.subscription.updated", sub, previous=self._changed(before, sub)
                )
            )
            return self._answer(sub, params), events

    # --- invoices ---------------------------------------------------------------------------

    def _new_invoice(self, cust: dict, sub: dict, reason: str, *, period) -> dict:
        invoice_id = new_id("in_")
        lines = [
            objects.invoice_line(
                invoice_id=invoice_id,
                sub=sub,
                item=item,
                product_name=self._objects["product"][item["price"]["product"]]["name"],
            )
            for item in sub["items"]["data"]
        ]
        number = f"{cust['invoice_prefix']}-{cust['next_invoice_sequence']:04d}"
        cust["next_invoice_sequence"] += 1
        return self._store(
            "invoice",
            objects.invoice(
                invoice_id=invoice_id,
                created=self.now(),
                cust=cust,
                sub=sub,
                lines=lines,
                billing_reason=reason,
                number=number,
                hosted_url=f"{self._public_url()}/i/{invoice_id}",
                period=period,
            ),
        )

    def _invoice_collect(self, inv: dict, *, paid: bool) -> list:
        """Finalize the invoice and attempt payment, with the events Stripe sends on the way."""
        now = self.now()
        events = [self._emit("invoice.created", inv)]
        inv["status"] = "open"
        inv["effective_at"] = now
        inv["status_transitions"]["finalized_at"] = now
        events.append(self._emit("invoice.finalized", inv))
        return events + self._invoice_attempt(inv, paid=paid)

    def _cancel_at_period_end(self, sub: dict, cancel: bool) -> None:
        """Set a subscription to end with its current period (or to renew), as Stripe records
        it: the moment it was asked and why."""
        if sub["cancel_at_period_end"] == cancel:
            return
        sub.update(
            {
                "cancel_at_period_end": cancel,
                "cancel_at": sub["items"]["data"][0]["current_period_end"] if cancel else None,
                "canceled_at": self.now() if cancel else None,
                "cancellation_details": {
                    "comment": None,
                    "feedback": None,
                    "reason": "cancellation_requested" if cancel else None,
                },
            }
        )

    def _invoice_attempt(self, inv: dict, *, paid: bool) -> list:
        """One attempt to pay an open invoice, with the events Stripe sends."""
        now = self.now()
        inv["attempted"] = True
        inv["attempt_count"] += 1
        if not paid:
            inv["next_payment_attempt"] = now + 3 * 24 * 3600
            return [self._emit("invoice.payment_failed", inv)]
        inv.update(
            {
                "status": "paid",
                "amount_paid": inv["amount_due"],
                "amount_remaining": 0,
                "ending_balance": 0,
                "next_payment_attempt": None,
            }
        )
        inv["status_transitions"]["paid_at"] = now
        return [self._emit("invoice.paid", inv), self._emit("invoice.payment_succeeded", inv)]

    def invoice_get(self, invoice_id: str, params: dict) -> dict:
        with self._lock:
            return self._answer(self._get("invoice", invoice_id), params)

    def invoice_lines(self, invoice_id: str, params: dict) -> dict:
        with self._lock:
            inv = self._get("invoice", invoice_id)
            url = f"/v1/invoices/{invoice_id}/lines"
            return self._answer_list(
                self._page(list(reversed(inv["lines"]["data"])), params, url), params
            )

    def invoice_list(self, params: dict) -> dict:
        with self._lock:
            items = list(self._objects["invoice"].values())
            for field in ("customer", "status"):
                if params.get(field):
                    items = [i for i in items if i[field] == params[field]]
            if params.get("subscription"):
                items = [
                    i
                    for i in items
                    if i["parent"]["subscription_details"]["subscription"] == params["subscription"]
                ]
            return self._answer_list(self._page(items, params, "/v1/invoices"), params)

    def invoice_create_preview(self, params: dict) -> dict:
        """`POST /v1/invoices/create_preview` for a subscription, with or without a change of
        its item's price (`subscription_details[items]`): the invoice Stripe would issue, with
        the proration lines of a change made at `proration_date` (default: now)."""
        with self._lock:
            if not params.get("subscription"):
                raise missing("subscription")
            sub = self._get("subscription", params["subscription"])
            if sub["status"] not in LIVE_SUBSCRIPTION_STATUSES:
                raise invalid("subscription", "The subscription is not live.")
            cust = self._get("customer", sub["customer"])
            details = params.get("subscription_details") or {}
            if not isinstance(details, dict):
                raise invalid("subscription_details", "Invalid object")
            behavior = details.get("proration_behavior") or "create_prorations"
            if behavior not in PRORATION_BEHAVIORS:
                raise invalid("subscription_details[proration_behavior]", "Invalid value")
            preview = copy.deepcopy(sub)
            changes = as_list(details.get("items"), "subscription_details[items]")
            for index, raw in enumerate(changes):
                self._subscription_item_change(preview, raw, index)
            invoice_id = "upcoming_" + new_id("in_")
            item, old_item = preview["items"]["data"][0], sub["items"]["data"][0]
            start, end = item["current_period_start"], item["current_period_end"]
            when = as_int(details.get("proration_date") or self.now(), "proration_date")
            lines = []
            if behavior != "none" and item["price"]["id"] != old_item["price"]["id"]:
                left = max(0, min(end - when, end - start)) / max(1, end - start)
                for sign, it in ((-1, old_item), (1, item)):
                    line = objects.invoice_line(
                        invoice_id=invoice_id,
                        sub=preview,
                        item=it,
                        product_name=self._objects["product"][it["price"]["product"]]["name"],
                    )
                    amount = sign * round(it["price"]["unit_amount"] * it["quantity"] * left)
                    line.update({"amount": amount, "subtotal": amount})
                    line["period"] = {"start": when, "end": end}
                    line["parent"]["subscription_item_details"]["proration"] = True
                    verb = "Unused time on" if sign < 0 else "Remaining time on"
                    line["description"] = f"{verb} {line['description']}"
                    lines.append(line)
            next_end = add_month(end, anchor_day=day_of(sub["billing_cycle_anchor"]))
            renewal = copy.deepcopy(item)
            renewal["current_period_start"], renewal["current_period_end"] = end, next_end
            lines.append(
                objects.invoice_line(
                    invoice_id=invoice_id,
                    sub=preview,
                    item=renewal,
                    product_name=self._objects["product"][item["price"]["product"]]["name"],
                )
            )
            inv = objects.invoice(
                invoice_id=invoice_id,
                created=self.now(),
                cust=cust,
                sub=preview,
                lines=lines,
                billing_reason="upcoming",
                number="",
                hosted_url="",
                period=(start, end),
            )
            inv.update({"id": None, "number": None, "hosted_invoice_url": None})
            inv["next_payment_attempt"] = end
            return self._answer(inv, params)

    # --- events -----------------------------------------------------------------------------

    def event_get(self, event_id: str, params: dict) -> dict:
        with self._lock:
            return self._answer(self._get("event", event_id), params)

    def event_list(self, params: dict) -> dict:
        with self._lock:
            items = list(self._objects["event"].values())
            types = as_list(params.get("types"), "types")
            if params.get("type"):
                wanted = params["type"]
                if wanted.endswith(".*"):
                    items = [e for e in items if e["type"].startswith(wanted[:-1])]
                else:
                    items = [e for e in items if e["type"] == wanted]
            if types:
                items = [e for e in items if e["type"] in types]
            return self._answer_list(self._page(items, params, "/v1/events"), params)
