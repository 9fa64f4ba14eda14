// With JavaScript on, a question is answered in place: the answers' HTML (the same markup the plain
// form post gets, escaped by the server) replaces the results section, without reloading the page.
"use strict";
(() => {
  const form = document.getElementById("ask-form");
  const results = document.getElementById("results");
  if (!form || !results || !window.fetch) return;
  const button = form.querySelector("button");
  const show = async (question, push) => {
    results.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      const response = await fetch("/answer?" + new URLSearchParams({ q: question }), { headers: { Accept: "text/html" } });
      results.innerHTML = await response.text();
      if (push) history.pushState({ q: question }, "", "/?" + new URLSearchParams({ q: question }));
      document.title = question + " · spasmqa";
      results.focus();
    } catch (error) {
      results.innerHTML = '<p class="error" role="alert">The server did not answer; try again.</p>';
    } finally {
      results.setAttribute("aria-busy", "false");
      button.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = form.elements.q.value;
    if (question.trim()) show(question, true);
  });
  window.addEventListener("popstate", (event) => {
    const question = (event.state && event.state.q) || "";
    form.elements.q.value = question;
    if (question) show(question, false);
    else location.assign("/");
  });
  history.replaceState({ q: form.elements.q.value }, "");
})();
