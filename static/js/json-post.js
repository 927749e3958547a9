// A JSON POST to one of this site's endpoints, with the CSRF token of `form` (the page's
// {% csrf_token %} form). Resolves to {response, body}: body is {} when the answer is not
// JSON. Rejects only when the server cannot be reached. Loaded before the scripts that use it.
window.jsonPost = function (url, payload, form) {
  "use strict";
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      "Accept": "application/json",
      "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value
    },
    body: JSON.stringify(payload)
  }).then(function (response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      return { response: response, body: body || {} };
    });
  });
};
