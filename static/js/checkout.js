// Plan buttons on the pricing page.
// * A customer without a subscription: ask our server for a Stripe Checkout session
//   (POST /billing/checkout, same origin, CSRF token), then send the browser to its URL;
//   Stripe brings the customer back to /billing/success/ or /billing/cancel/.
// * A customer who already pays through a subscription (the button carries data-switch, or
//   Checkout answers 409 `subscription_exists`): show the card's inline confirmation, then
//   POST /billing/subscription and go to /billing/success/?plan=<code>&change=switch.
// Errors are told apart by the answer's `code`, then its status.
(function () {
  "use strict";

  var form = document.querySelector("[data-checkout-form]");
  if (!form) {
    return;
  }

  var SIGNED_OUT = "Your session has ended. Sign in again, then choose your plan.";
  var CHECKOUT_BY_STATUS = {
    400: "This plan cannot be bought online.",
    401: SIGNED_OUT,
    403: SIGNED_OUT,
    409: "You are already on this plan.",
    503: "Payments are unavailable right now. Nothing was charged; please try again in a few minutes."
  };
  var SWITCH_BY_CODE = {
    conflict: "You are already on this plan. Reload the page to see your current plan.",
    no_subscription: "You no longer have an active subscription to switch. Choose the plan again to subscribe through secure checkout.",
    past_due: "Your last payment failed. Pay the open invoice (see the e-mail we sent you) before changing plans. Nothing was changed.",
    usage_over_plan: null, // the server's detail says how many sessions and until when
    invalid: "This plan cannot be chosen online. Nothing was changed.",
    not_authenticated: SIGNED_OUT,
    forbidden: SIGNED_OUT,
    stripe_unavailable: "Payments are unavailable right now. Nothing was changed or charged; please try again in a few minutes."
  };

  function post(url, payload) {
    return window.jsonPost(url, payload, form);
  }

  function detailOf(body) {
    return body && typeof body.detail === "string" ? body.detail : "";
  }

  function checkoutMessage(status, body) {
    var text = CHECKOUT_BY_STATUS[status] ||
      "Checkout could not start (error " + status + "). Nothing was charged; please try again.";
    var detail = detailOf(body);
    return detail ? text + " (" + detail + ")" : text;
  }

  function switchMessage(status, body) {
    var code = body && body.code;
    if (code === "usage_over_plan" && detailOf(body)) {
      return detailOf(body) + " Nothing was changed.";
    }
    if (code && SWITCH_BY_CODE[code]) {
      return SWITCH_BY_CODE[code];
    }
    if (status === 401 || status === 403) {
      return SIGNED_OUT;
    }
    return "Your plan could not be switched (error " + status + "). Nothing was changed; please try again.";
  }

  function Card(button) {
    this.button = button;
    this.element = button.closest("[data-plan]");
    this.plan = button.dataset.checkoutPlan;
    this.label = button.textContent;
    this.errorBox = this.element.querySelector("[data-checkout-error]");
    this.confirm = this.element.querySelector("[data-switch-confirm]");
    this.yes = this.confirm.querySelector("[data-switch-yes]");
    this.no = this.confirm.querySelector("[data-switch-no]");
    this.yesLabel = this.yes.textContent;
  }

  Card.prototype.busy = function (button, text) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = text;
  };

  Card.prototype.idle = function () {
    [this.button, this.yes, this.no].forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
    this.button.textContent = this.label;
    this.yes.textContent = this.yesLabel;
  };

  Card.prototype.fail = function (text) {
    this.idle();
    this.errorBox.textContent = text;
    this.errorBox.hidden = false;
  };

  Card.prototype.openConfirm = function () {
    this.errorBox.hidden = true;
    this.confirm.hidden = false;
    this.button.hidden = true;
    this.button.setAttribute("aria-expanded", "true");
    this.confirm.focus();
    this.showPreview();
  };

  // Stripe's own preview of the switch (GET /billing/subscription/preview): the prorated
  // amount it adds to (or credits on) the next invoice. Without it the terms above still hold.
  Card.prototype.showPreview = function () {
    var box = this.confirm.querySelector("[data-switch-preview]");
    if (!box || !form.dataset.previewEndpoint) {
      return;
    }
    box.textContent = "Asking Stripe for the exact amount…";
    var url = form.dataset.previewEndpoint + "?plan=" + encodeURIComponent(this.plan);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (!result.ok) {
          box.textContent = "";
          return;
        }
        var body = result.body;
        var when = body.nextInvoiceAt ? new Date(body.nextInvoiceAt).toLocaleDateString("en-GB",
          { day: "numeric", month: "long", timeZone: "UTC" }) : "";
        var part = body.prorationAmount < 0
          ? "a credit of " + body.prorationText.replace("-", "") + " for the rest of this period"
          : body.prorationText + " for the rest of this period";
        box.textContent = "Stripe's preview: " + part + "; your next invoice" +
          (when ? " (" + when + ")" : "") + " comes to " + body.amountDueText + ".";
      })
      .catch(function () { box.textContent = ""; });
  };

  Card.prototype.closeConfirm = function () {
    this.confirm.hidden = true;
    this.button.hidden = false;
    this.button.setAttribute("aria-expanded", "false");
    this.button.focus();
  };

  Card.prototype.startCheckout = function () {
    var card = this;
    card.busy(card.button, "Opening secure checkout…");
    card.errorBox.hidden = true;
    post(form.dataset.endpoint, {
      plan: card.plan,
      user_id: form.dataset.userId,
      email: form.dataset.email
    }).then(function (result) {
      if (result.response.ok && result.body.checkoutUrl) {
        window.location.assign(result.body.checkoutUrl);
        return;
      }
      if (result.response.status === 409 && result.body.code === "subscription_exists") {
        // Paying already (e.g. subscribed in another tab): the plan change is a switch.
        card.idle();
        card.button.dataset.switch = "";
        card.button.setAttribute("aria-controls", card.confirm.id);
        card.openConfirm();
        return;
      }
      card.fail(checkoutMessage(result.response.status, result.body));
    }).catch(function () {
      card.fail("We could not reach the server. Check your connection and try again. Nothing was charged.");
    });
  };

  Card.prototype.startSwitch = function () {
    var card = this;
    card.busy(card.yes, "Switching…");
    card.no.disabled = true;
    card.errorBox.hidden = true;
    post(form.dataset.switchEndpoint, {
      plan: card.plan,
      user_id: form.dataset.userId
    }).then(function (result) {
      if (result.response.ok && result.body.plan) {
        window.location.assign(form.dataset.successUrl + "?plan=" +
          encodeURIComponent(result.body.plan) + "&change=switch");
        return;
      }
      var code = result.body.code;
      card.confirm.hidden = true;
      card.button.hidden = false;
      card.button.setAttribute("aria-expanded", "false");
      if (code === "no_subscription") {
        // Nothing to switch any more: the button goes through Checkout from now on.
        delete card.button.dataset.switch;
        card.button.removeAttribute("aria-expanded");
        card.button.removeAttribute("aria-controls");
      }
      card.fail(switchMessage(result.response.status, result.body));
    }).catch(function () {
      card.fail("We could not reach the server. Check your connection and try again. Nothing was changed.");
    });
  };

  document.querySelectorAll("[data-checkout-plan]").forEach(function (button) {
    var card = new Card(button);
    button.addEventListener("click", function () {
      if ("switch" in button.dataset) {
        card.openConfirm();
      } else {
        card.startCheckout();
      }
    });
    card.yes.addEventListener("click", function () { card.startSwitch(); });
    card.no.addEventListener("click", function () { card.closeConfirm(); });
    card.confirm.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !card.yes.disabled) {
        card.closeConfirm();
      }
    });
  });
})();
