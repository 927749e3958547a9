// After Stripe Checkout: the plan changes when Stripe's webhook reaches us, which may be a
// moment after the browser comes back. Ask for our own usage until the plan is the one paid
// for, then reload the page; give up politely after about a minute.
(function () {
  "use strict";

  var waiting = document.querySelector("[data-wait-for-plan]");
  if (!waiting) {
    return;
  }
  var INTERVAL_MS = 2000;
  var MAX_TRIES = 30;
  var tries = 0;

  function again() {
    if (tries < MAX_TRIES) {
      window.setTimeout(poll, INTERVAL_MS);
    } else {
      waiting.querySelector("[data-still-waiting]").hidden = false;
    }
  }

  function poll() {
    tries += 1;
    fetch(waiting.dataset.usageEndpoint, {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (body && body.plan === waiting.dataset.waitForPlan) {
        window.location.reload();
      } else {
        again();
      }
    }).catch(again);
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
