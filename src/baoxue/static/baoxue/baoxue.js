/* Behaviour the pages declare with data attributes, since the Content-Security-Policy allows
   no inline script (onsubmit, onchange, onclick) and no style attribute. Without this file
   every form still works; only the conveniences go. */
(function () {
  "use strict";
  // <form data-confirm="…">: ask before sending. <form data-disable-on-submit="selector">: the
  // buttons matching selector are disabled once it is sent, so a double click sends it once.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    var selector = form.getAttribute("data-disable-on-submit");
    if (selector) {
      form.querySelectorAll(selector).forEach(function (button) { button.disabled = true; });
    }
  });
  // <select data-autosubmit>: choosing sends its form (filters, the language menu).
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
    }
  });
  // <input type="checkbox" data-select-all="name">: ticks or clears every checkbox of that name.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-select-all")) { return; }
    var name = box.getAttribute("data-select-all");
    document.querySelectorAll('input[type="checkbox"]').forEach(function (other) {
      if (other.name === name) { other.checked = box.checked; }
    });
  });
  // <div data-width-percent="37">: a progress bar's width, set through the style object (a
  // style="" attribute would be refused by the policy). Also after each htmx swap (polling).
  function widths(root) {
    root.querySelectorAll("[data-width-percent]").forEach(function (bar) {
      bar.style.width = bar.getAttribute("data-width-percent") + "%";
    });
  }
  if (window.htmx) {
    window.htmx.onLoad(widths);
  } else {
    document.addEventListener("DOMContentLoaded", function () { widths(document); });
  }
  // <form data-wipe-offline> (logging out): what the visit app keeps on this phone goes first
  // (visits-app.js: the visitor's households and any visit not yet sent, and the cached pages).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-wipe-offline") || form.dataset.wiped) { return; }
    if (!window.indexedDB) { return; }
    event.preventDefault();
    window.baoxueLeaving = true;  // the visit app opens its store no more (visits-app.js)
    var done = function () {
      if (form.dataset.wiped) { return; }
      form.dataset.wiped = "1";
      form.submit();
    };
    var gone = new Promise(function (resolve) {
      var request = indexedDB.deleteDatabase("baoxue-visits");
      request.onsuccess = request.onerror = request.onblocked = function () { resolve(); };
    });
    var cached = window.caches ? caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) { return k.indexOf("baoxue-visits-") === 0; }).map(function (k) { return caches.delete(k); }));
    }) : Promise.resolve();
    Promise.all([gone, cached]).then(done, done);
    window.setTimeout(done, 3000);  // never keep anyone from logging out
  });
  // <button data-print>: print the page (the printed visit forms).
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (button) { window.print(); }
  });
})();
