// Upgrade buttons on the pricing page: ask our server for a Stripe Checkout session
// (POST /billing/checkout, same origin, CSRF token), then send the browser to its URL.
// Stripe brings the customer back to /billing/success/ or /billing/cancel/.
(function () {
  "use strict";

  var form = document.querySelector("[data-checkout-form]");
  if (!form) {
    return;
  }

  var MESSAGES = {
    400: "This plan cannot be bought online.",
    401: "Your session has ended. Sign in again, then choose your plan.",
    403: "Your session has ended. Sign in again, then choose your plan.",
    409: "You are already on this plan.",
    503: "Payments are unavailable right now. Nothing was charged; please try again in a few minutes."
  };

  function messageFor(status, body) {
    var text = MESSAGES[status] ||
      "Checkout could not start (error " + status + "). Nothing was charged; please try again.";
    if (body && typeof body.detail === "string" && body.detail) {
      text += " (" + body.detail + ")";
    }
    return text;
  }

  function startCheckout(button) {
    var card = button.closest("[data-plan]");
    var errorBox = card.querySelector("[data-checkout-error]");
    var label = button.textContent;

    function fail(text) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = label;
      errorBox.textContent = text;
      errorBox.hidden = false;
    }

    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Opening secure checkout…";
    errorBox.hidden = true;

    fetch(form.dataset.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value
      },
      body: JSON.stringify({
        plan: button.dataset.checkoutPlan,
        user_id: form.dataset.userId,
        email: form.dataset.email
      })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok && body.checkoutUrl) {
          window.location.assign(body.checkoutUrl);
          return;
        }
        fail(messageFor(response.status, body));
      });
    }).catch(function () {
      fail("We could not reach the server. Check your connection and try again. Nothing was charged.");
    });
  }

  document.querySelectorAll("[data-checkout-plan]").forEach(function (button) {
    button.addEventListener("click", function () { startCheckout(button); });
  });
})();
