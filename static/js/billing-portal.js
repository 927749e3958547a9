// "Manage billing" and "Update payment method" on the usage page: ask our server for a
// session of Stripe's billing portal (POST /billing/portal, same origin, CSRF token), then
// send the browser there; Stripe brings the customer back to this page.
(function () {
  "use strict";

  var form = document.querySelector("[data-billing-portal-form]");
  if (!form) {
    return;
  }

  var SIGNED_OUT = "Your session has ended. Sign in again, then open billing.";
  var BY_CODE = {
    no_stripe_customer: "You have no billing account yet: subscribe to a paid plan first.",
    not_authenticated: SIGNED_OUT,
    forbidden: SIGNED_OUT,
    stripe_unavailable: "Billing is unavailable right now. Nothing was changed; please try again in a few minutes."
  };

  function errorBoxFor(button) {
    var scope = button.closest(".notice, .card") || document;
    return scope.querySelector("[data-billing-portal-error]");
  }

  function open(button) {
    var label = button.textContent;
    var errorBox = errorBoxFor(button);
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Opening the billing portal…";
    errorBox.hidden = true;

    function fail(text) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = label;
      errorBox.textContent = text;
      errorBox.hidden = false;
    }

    var returnUrl = window.location.origin + window.location.pathname;
    window.jsonPost(form.dataset.endpoint, { return_url: returnUrl }, form).then(function (result) {
      var response = result.response;
      var body = result.body;
      if (response.ok && body.url) {
        window.location.assign(body.url);
        return;
      }
      fail(BY_CODE[body.code] || (response.status === 401 || response.status === 403 ? SIGNED_OUT :
        "The billing portal could not open (error " + response.status + "). Please try again."));
    }).catch(function () {
      fail("We could not reach the server. Check your connection and try again.");
    });
  }

  var buttons = document.querySelectorAll("[data-billing-portal]");
  buttons.forEach(function (button) {
    button.dataset.label = button.textContent;
    button.addEventListener("click", function () { open(button); });
  });

  // Back from Stripe's page through the browser's cache: the buttons work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    buttons.forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = button.dataset.label;
    });
  });
})();
