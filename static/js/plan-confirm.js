// Confirmed plan actions on the pricing page that are not a switch: a subscriber's move to
// Free at the end of the billing period (POST /billing/subscription/cancel) and its undo
// (POST /billing/subscription/resume). The button opens its inline confirmation; "Yes"
// posts (same origin, CSRF token) and reloads the page, which then shows the new state.
(function () {
  "use strict";

  var form = document.querySelector("[data-checkout-form]");
  if (!form) {
    return;
  }
  var BY_CODE = {
    conflict: "This was already done. Reload the page to see your plan.",
    no_subscription: "You have no active subscription to cancel. Reload the page to see your plan.",
    not_authenticated: "Your session has ended. Sign in again, then try once more.",
    forbidden: "Your session has ended. Sign in again, then try once more.",
    stripe_unavailable: "Payments are unavailable right now. Nothing was changed; please try again in a few minutes."
  };

  document.querySelectorAll("[data-confirm-open]").forEach(function (opener) {
    var panel = document.getElementById(opener.getAttribute("aria-controls"));
    var yes = panel.querySelector("[data-confirm-yes]");
    var no = panel.querySelector("[data-confirm-no]");
    var errorBox = panel.querySelector("[data-confirm-error]");
    var yesLabel = yes.textContent;

    function open() {
      errorBox.hidden = true;
      panel.hidden = false;
      opener.hidden = true;
      opener.setAttribute("aria-expanded", "true");
      panel.focus();
    }

    function close() {
      panel.hidden = true;
      opener.hidden = false;
      opener.setAttribute("aria-expanded", "false");
      opener.focus();
    }

    function fail(text) {
      yes.disabled = false;
      no.disabled = false;
      yes.removeAttribute("aria-busy");
      yes.textContent = yesLabel;
      errorBox.textContent = text;
      errorBox.hidden = false;
    }

    function confirm() {
      yes.disabled = true;
      no.disabled = true;
      yes.setAttribute("aria-busy", "true");
      yes.textContent = "Saving…";
      window.jsonPost(panel.dataset.endpoint, { user_id: form.dataset.userId }, form).then(function (result) {
        if (result.response.ok) {
          window.location.reload();
          return;
        }
        fail(BY_CODE[result.body.code] ||
          "This could not be done (error " + result.response.status + "). Nothing was changed; please try again.");
      }).catch(function () {
        fail("We could not reach the server. Check your connection and try again. Nothing was changed.");
      });
    }

    opener.addEventListener("click", open);
    no.addEventListener("click", close);
    yes.addEventListener("click", confirm);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !yes.disabled) {
        close();
      }
    });
  });
})();
