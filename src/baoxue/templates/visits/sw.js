{% load static %}/* The visit app's service worker (visits/offline.py): the app page and its static files
   cached so that the visitor's list and form open with no network. Only GET requests of this
   site are answered from the cache; visits are sent by the page, which keeps them until the
   server has them. What the visitor recorded lives in IndexedDB, never here. */
"use strict";
var CACHE = "baoxue-visits-{{ version|default:'1' }}";
var SHELL = "{% url 'visits:app' %}";
var STATIC = [
  "{% static 'vendor/bootstrap/bootstrap.min.css' %}",
  "{% static 'vendor/bootstrap-icons/bootstrap-icons.min.css' %}",
  "{% static 'vendor/bootstrap-icons/fonts/bootstrap-icons.woff2' %}",
  "{% static 'baoxue/baoxue.css' %}",
  "{% static 'vendor/bootstrap/bootstrap.bundle.min.js' %}",
  "{% static 'vendor/htmx/htmx.min.js' %}",
  "{% static 'baoxue/baoxue.js' %}",
  "{% static 'baoxue/visits-app.js' %}"
];

function keepShell(cache, response) {
  // A page that is the app (not the login page a lapsed session is sent to).
  if (response.ok && !response.redirected) { return cache.put(SHELL, response); }
  return Promise.resolve();
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(STATIC).then(function () {
      return fetch(SHELL, { credentials: "same-origin" }).then(function (r) { return keepShell(cache, r); });
    });
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("baoxue-visits-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname === SHELL) {
    // The network first (a fresh page; the login page when the session has ended), the
    // cached app when there is no network.
    event.respondWith(fetch(request).then(function (response) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { return keepShell(cache, copy); });
      return response;
    }).catch(function () {
      return caches.match(SHELL).then(function (hit) { return hit || Response.error(); });
    }));
    return;
  }
  if (STATIC.indexOf(url.pathname) >= 0) {
    event.respondWith(caches.match(request, { ignoreSearch: true }).then(function (hit) {
      return hit || fetch(request);
    }));
  }
});
