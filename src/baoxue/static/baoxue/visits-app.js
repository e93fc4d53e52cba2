/* The visit app (templates/visits/app.html): the visitor's own households and a visit form that
   work with no network. What the phone keeps lives in IndexedDB ("baoxue-visits"): the list the
   server gave ("meta", "targets") and the visits recorded here and not yet sent ("outbox"), each
   with the id this phone made for it, its photos (compressed here, as Blobs: they survive the
   phone being closed) and the guardian's signature. Each is sent to the server when the network
   is there; the server makes one visit per id however often it is sent, and says so. A visit
   the server refuses (a wrong date, a household no longer this visitor's) stays, with the reason.
   Everything kept is wiped on logout, when another account's list arrives, and when the server
   says this account was switched off. The service worker (visits/sw.js) keeps this page and its
   files for use without a network. */
(function () {
  "use strict";
  var root = document.getElementById("visit-app");
  if (!root) { return; }
  var DB = "baoxue-visits";
  var PHOTO_SIDE = 1600;
  var PHOTO_QUALITY = 0.8;
  var words = JSON.parse((document.getElementById("app-words") || { textContent: "{}" }).textContent || "{}");
  function word(key, fallback) { return words[key] || fallback; }

  // --- IndexedDB, as promises ------------------------------------------------------------------
  function open() {
    if (window.baoxueLeaving) { return Promise.reject(new Error("logging out")); }
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB, 1);
      request.onupgradeneeded = function () {
        var db = request.result;
        db.createObjectStore("meta");
        db.createObjectStore("targets", { keyPath: "id" });
        db.createObjectStore("outbox", { keyPath: "client_id" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }
  function run(store, mode, action) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode);
        var result = action(tx.objectStore(store));
        tx.oncomplete = function () { db.close(); resolve(result && result.result !== undefined ? result.result : result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }
  function all(store) { return run(store, "readonly", function (s) { return s.getAll(); }); }
  function get(store, key) { return run(store, "readonly", function (s) { return s.get(key); }); }
  function put(store, value, key) { return run(store, "readwrite", function (s) { return key === undefined ? s.put(value) : s.put(value, key); }); }
  function remove(store, key) { return run(store, "readwrite", function (s) { return s.delete(key); }); }
  function replaceTargets(targets) {
    return run("targets", "readwrite", function (s) {
      s.clear();
      targets.forEach(function (t) { s.put(t); });
    });
  }
  function wipe() {
    // Everything this phone keeps for the account, and the cached pages.
    var gone = new Promise(function (resolve) {
      var request = indexedDB.deleteDatabase(DB);
      request.onsuccess = request.onerror = request.onblocked = function () { resolve(); };
    });
    var cached = window.caches ? caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) { return k.indexOf("baoxue-visits-") === 0; }).map(function (k) { return caches.delete(k); }));
    }) : Promise.resolve();
    return Promise.all([gone, cached]);
  }
  window.baoxueVisitsWipe = wipe;

  // --- the page ----------------------------------------------------------------------------------
  var message = document.getElementById("app-message");
  function say(text, kind) {
    message.textContent = text || "";
    message.className = "alert alert-" + (kind || "warning") + (text ? "" : " d-none");
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function netState() {
    var badge = document.getElementById("net-state");
    badge.textContent = navigator.onLine ? word("online", "在线") : word("offline", "离线");
    badge.className = "badge " + (navigator.onLine ? "text-bg-success" : "text-bg-secondary");
  }

  var choices = { methods: [], statuses: [], subsidies: [], explained: [] };
  var current = null;  // the target whose form is open
  var photos = [];     // compressed Blobs for the open form

  function drawTargets() {
    return Promise.all([all("targets"), all("outbox")]).then(function (found) {
      var list = document.getElementById("targets");
      var waiting = {};
      found[1].forEach(function (v) { waiting[v.target] = true; });
      list.innerHTML = "";
      if (!found[0].length) {
        list.appendChild(el("div", { "class": "list-group-item text-muted", text: word("none", "本机还没有走访对象：请在有网络时点“同步”。") }));
      }
      found[0].forEach(function (t) {
        var state = waiting[t.id] ? word("queued", "未发送") : (t.status === "visited" ? word("visited", "已走访") : word("open", "未走访"));
        var badge = waiting[t.id] ? "text-bg-warning" : (t.status === "visited" ? "text-bg-success" : "text-bg-light border");
        var item = el("button", { type: "button", "class": "list-group-item list-group-item-action d-flex justify-content-between align-items-start", "data-testid": "offline-target", "data-target": String(t.id) }, [
          el("div", {}, [
            el("div", { "class": "fw-bold", text: t.label }),
            el("div", { "class": "small text-muted", text: [t.village, t.address].filter(Boolean).join(" · ") }),
            el("div", { "class": "small", text: (t.groups || []).join("、") }),
            el("div", { "class": "small text-muted", text: t.campaign })
          ]),
          el("span", { "class": "badge " + badge, text: state })
        ]);
        item.addEventListener("click", function () { openForm(t); });
        list.appendChild(item);
      });
      var outbox = document.getElementById("outbox");
      outbox.innerHTML = "";
      found[1].forEach(function (v) {
        outbox.appendChild(el("li", { "class": "list-group-item small", "data-testid": "outbox-item" }, [
          el("span", { text: v.label + " " + v.fields.visited_on + " · " + word("not_sent", "尚未发送") + (v.photos.length ? " · " + v.photos.length + " " + word("photos", "张照片") : "") }),
          v.error ? el("div", { "class": "text-danger", text: v.error }) : el("span")
        ]));
      });
      document.getElementById("outbox-count").textContent = String(found[1].length);
      document.getElementById("outbox-box").className = found[1].length ? "mb-3" : "d-none mb-3";
    });
  }

  function checkboxes(box, name, items) {
    box.innerHTML = "";
    items.forEach(function (pair) {
      var id = "f_" + name + "_" + pair[0];
      box.appendChild(el("div", { "class": "form-check form-check-inline" }, [
        el("input", { "class": "form-check-input", type: "checkbox", name: name, value: pair[0], id: id }),
        el("label", { "class": "form-check-label", "for": id, text: pair[1] })
      ]));
    });
  }

  function openForm(target) {
    current = target;
    photos = [];
    var form = document.getElementById("visit-form");
    form.reset();
    document.getElementById("photo-previews").innerHTML = "";
    document.getElementById("location").textContent = "";
    clearSignature();
    document.getElementById("form-title").textContent = target.label;
    document.getElementById("f_visited_on").value = new Date().toISOString().slice(0, 10);
    get("meta", "me").then(function (me) { if (me && !document.getElementById("f_visitors").value) { document.getElementById("f_visitors").value = me.name; } });
    var methods = document.getElementById("form-methods");
    methods.innerHTML = "";
    choices.methods.forEach(function (pair, i) {
      var id = "f_method_" + pair[0];
      var input = el("input", { type: "radio", "class": "btn-check", name: "method", id: id, value: pair[0] });
      if (i === 0) { input.checked = true; }
      methods.appendChild(input);
      methods.appendChild(el("label", { "class": "btn btn-outline-primary btn-sm", "for": id, text: pair[1] }));
    });
    var box = document.getElementById("form-children");
    box.innerHTML = "";
    target.children.forEach(function (c) {
      var select = el("select", { "class": "form-select", name: "status_" + c.id, "aria-label": c.name }, [el("option", { value: "", text: "—" })]);
      choices.statuses.forEach(function (pair) { select.appendChild(el("option", { value: pair[0], text: pair[1] })); });
      var parts = [
        el("legend", { "class": "fs-6 fw-bold w-auto px-1 mb-1", text: c.name + " " + (c.school ? c.school + (c.grade ? " " + c.grade + "年级" + (c.class_name || "") : "") : "") }),
        el("div", { "class": "form-check" }, [
          el("input", { "class": "form-check-input", type: "checkbox", name: "seen_" + c.id, value: "1", id: "seen_" + c.id }),
          el("label", { "class": "form-check-label", "for": "seen_" + c.id, text: word("seen", "见到本人") })
        ]),
        select,
        el("input", { "class": "form-control form-control-sm mt-1", name: "where_" + c.id, placeholder: word("where", "不在本地时：所在地或学校"), maxlength: "200" }),
        el("input", { "class": "form-control form-control-sm mt-1", name: "contact_" + c.id, placeholder: word("contact", "联系方式"), maxlength: "64", inputmode: "tel" }),
        el("input", { "class": "form-control form-control-sm mt-1", name: "study_mood_" + c.id, placeholder: word("mood", "学习和情绪"), maxlength: "200" })
      ];
      if (c.grade === 6) { parts.push(el("input", { "class": "form-control form-control-sm mt-1", name: "intended_junior_" + c.id, placeholder: word("junior", "六年级：拟就读初中"), maxlength: "100" })); }
      box.appendChild(el("fieldset", { "class": "border rounded p-2 mb-2", "data-child": String(c.id) }, parts));
    });
    checkboxes(document.getElementById("form-subsidies"), "subsidies", choices.subsidies);
    checkboxes(document.getElementById("form-explained"), "explained", choices.explained);
    document.getElementById("targets").className = "list-group mb-3 d-none";
    form.className = "vstack gap-2 mb-4";
    form.scrollIntoView();
  }
  function closeForm() {
    current = null;
    document.getElementById("visit-form").className = "vstack gap-2 d-none mb-4";
    document.getElementById("targets").className = "list-group mb-3";
  }

  // Photos: made small here (a phone photo of several MB becomes a few hundred KB), kept as Blobs.
  function compress(file) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        var scale = Math.min(1, PHOTO_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", PHOTO_QUALITY);
      };
      img.onerror = function () { URL.revokeObjectURL(url); resolve(null); };
      img.src = url;
    });
  }
  document.getElementById("f_photos").addEventListener("change", function (event) {
    var files = Array.prototype.slice.call(event.target.files || []);
    Promise.all(files.map(compress)).then(function (blobs) {
      blobs.filter(Boolean).forEach(function (blob) {
        photos.push(blob);
        var img = el("img", { "class": "photo-preview rounded border", alt: word("photo", "照片") });
        img.src = URL.createObjectURL(blob);
        document.getElementById("photo-previews").appendChild(img);
      });
    });
  });

  // The guardian's signature, drawn with a finger.
  var pad = document.getElementById("signature");
  var signed = false;
  function clearSignature() {
    pad.getContext("2d").clearRect(0, 0, pad.width, pad.height);
    signed = false;
  }
  (function () {
    var ctx = pad.getContext("2d");
    var drawing = false;
    function at(event) {
      var box = pad.getBoundingClientRect();
      return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
    }
    pad.addEventListener("pointerdown", function (event) {
      drawing = true; signed = true;
      var p = at(event); ctx.beginPath(); ctx.moveTo(p[0], p[1]);
      ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.strokeStyle = "#000";
      pad.setPointerCapture(event.pointerId);
    });
    pad.addEventListener("pointermove", function (event) {
      if (!drawing) { return; }
      var p = at(event); ctx.lineTo(p[0], p[1]); ctx.stroke();
    });
    pad.addEventListener("pointerup", function () { drawing = false; });
    document.getElementById("signature-clear").addEventListener("click", clearSignature);
  })();

  document.getElementById("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById("location").textContent = pos.coords.latitude.toFixed(5) + "," + pos.coords.longitude.toFixed(5);
    });
  });
  document.getElementById("form-cancel").addEventListener("click", closeForm);

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID().replace(/-/g, ""); }
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  document.getElementById("visit-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current) { return; }
    var form = event.target;
    var data = new FormData(form);
    if (!data.get("visitors") || !data.get("visited_on")) { say(word("required", "请填写走访日期和走访人员。")); return; }
    if (!photos.length && data.get("method") !== "phone") { say(word("photo_needed", "请至少拍一张照片。")); return; }
    var fields = {};
    ["method", "visited_on", "visitors", "people_met", "guardianship", "economy", "problems", "help_given", "follow_up_by"].forEach(function (k) { fields[k] = data.get(k) || ""; });
    fields.location = document.getElementById("location").textContent;
    fields.subsidies = data.getAll("subsidies");
    fields.explained = data.getAll("explained");
    var children = current.children.map(function (c) {
      return {
        child: c.id,
        seen: data.get("seen_" + c.id) === "1",
        status: data.get("status_" + c.id) || "",
        where: data.get("where_" + c.id) || "",
        contact: data.get("contact_" + c.id) || "",
        study_mood: data.get("study_mood_" + c.id) || "",
        intended_junior: data.get("intended_junior_" + c.id) || ""
      };
    });
    var target = current;
    var signature = signed ? new Promise(function (resolve) { pad.toBlob(resolve, "image/png"); }) : Promise.resolve(null);
    signature.then(function (sig) {
      return put("outbox", {
        client_id: newId(), target: target.id, label: target.label, fields: fields,
        children: children, photos: photos.slice(), signature: sig, created: Date.now(), error: ""
      });
    }).then(function () {
      closeForm();
      say(word("saved", "已保存在本机，有网络时自动发送。"), "info");
      return drawTargets();
    }).then(function () { if (navigator.onLine) { sync(); } });
  });

  // --- the server ----------------------------------------------------------------------------------
  var syncing = false;
  function loginNeeded() {
    var link = el("a", { href: root.getAttribute("data-login"), "class": "alert-link", text: word("login", "重新登录") });
    message.innerHTML = "";
    message.appendChild(document.createTextNode(word("session", "登录已过期，本机的记录都还在。请") + " "));
    message.appendChild(link);
    message.appendChild(document.createTextNode(" " + word("then_sync", "后同步。")));
    message.className = "alert alert-warning";
  }
  function fetchMine() {
    return fetch(root.getAttribute("data-mine"), { credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 302 || response.status === 403) { return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      });
  }
  function checkDevice() {
    // Logged out of the server: if the account was switched off, what this phone keeps goes.
    return get("meta", "me").then(function (me) {
      if (!me || !me.device) { return false; }
      return fetch(root.getAttribute("data-device") + "?t=" + encodeURIComponent(me.device), { credentials: "omit" })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.wipe) { return wipe().then(function () { return true; }); }
          return false;
        });
    }).catch(function () { return false; });
  }
  function sendOne(item, csrf) {
    var body = new FormData();
    body.append("client_id", item.client_id);
    Object.keys(item.fields).forEach(function (k) {
      var value = item.fields[k];
      if (Array.isArray(value)) { value.forEach(function (v) { body.append(k, v); }); } else { body.append(k, value); }
    });
    item.children.forEach(function (c) {
      body.append("child", String(c.child));
      if (c.seen) { body.append("seen_" + c.child, "1"); }
      ["status", "where", "contact", "study_mood", "intended_junior"].forEach(function (k) { body.append(k + "_" + c.child, c[k] || ""); });
    });
    item.photos.forEach(function (blob, i) { body.append("photos", blob, "visit-" + (i + 1) + ".jpg"); });
    if (item.signature) { body.append("signature", item.signature, "signature.png"); }
    var url = root.getAttribute("data-record").replace("/0/", "/" + item.target + "/");
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json", "X-CSRFToken": csrf } })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 302) { return "login"; }
        if (response.status === 404) { item.error = word("not_yours", "这户已不是您的走访对象，请联系乡镇办公室。"); return put("outbox", item).then(function () { return "kept"; }); }
        return response.json().then(function (answer) {
          if (answer.ok) { return remove("outbox", item.client_id).then(function () { return "sent"; }); }
          item.error = answer.error || word("refused", "服务器没有接收这条记录。");
          return put("outbox", item).then(function () { return "kept"; });
        });
      });
  }
  function sync() {
    if (syncing) { return Promise.resolve(); }
    syncing = true;
    return fetchMine().then(function (mine) {
      if (mine === null) {
        return checkDevice().then(function (wiped) {
          if (wiped) { say(word("wiped", "这个账号已停用，本机保存的走访资料已清除。")); return drawTargets(); }
          loginNeeded();
        });
      }
      return get("meta", "me").then(function (me) {
        // Another account's list on this phone: what the last one kept is not this one's to see or send.
        var start = me && me.user !== mine.user ? wipe() : Promise.resolve();
        return start.then(function () {
          choices = mine.choices;
          return put("meta", { user: mine.user, name: mine.name, device: mine.device, choices: mine.choices }, "me");
        }).then(function () { return replaceTargets(mine.targets); })
          .then(function () { return all("outbox"); })
          .then(function (items) {
            return items.reduce(function (chain, item) {
              return chain.then(function (state) { return state === "login" ? state : sendOne(item, mine.csrf); });
            }, Promise.resolve(""));
          })
          .then(function (state) {
            if (state === "login") { loginNeeded(); return; }
            return fetchMine().then(function (fresh) { if (fresh) { return replaceTargets(fresh.targets); } })
              .then(function () {
                say("");
                // When the server last took everything (the tests wait for it).
                root.setAttribute("data-synced", String(Date.now()));
              });
          });
      });
    }).catch(function () {
      say(word("no_network", "现在连不上服务器，记录保存在本机，稍后再同步。"));
    }).then(function () {
      syncing = false;
      return drawTargets();
    });
  }
  document.getElementById("sync").addEventListener("click", function () { sync(); });
  window.addEventListener("online", function () { netState(); sync(); });
  window.addEventListener("offline", netState);

  // --- start ---------------------------------------------------------------------------------------
  netState();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(root.getAttribute("data-sw"), { scope: root.getAttribute("data-scope") }).catch(function () {});
  }
  get("meta", "me").then(function (me) {
    if (me && me.choices) { choices = me.choices; }
    return drawTargets();
  }).then(function () { if (navigator.onLine) { return sync(); } });
})();
