// The board's poller: fetch /api/status every 7 s (paused while the tab is hidden) and
// re-render the markup board.html renders; a 1 s ticker updates only "updated Ns ago".
// Everything is built with textContent, never innerHTML: the snapshot is data, not markup.
(function () {
  "use strict";
  var POLL_MS = 7000, TICK_MS = 1000, CELLS = 20;
  var TEXT = { operational: "All systems operational", degraded: "Partial degradation",
               down: "Major outage" };
  var ageEl = document.getElementById("age");
  var updatedAt = Date.now() - 1000 * Number(ageEl ? ageEl.dataset.age || 0 : 0);
  var timer = null, busy = false;

  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }
  function size(v) {
    if (v === null || v === undefined) return "\u2013";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    for (var i = 0; i < units.length; i++) {
      if (v < 1024 || i === units.length - 1) return i ? v.toFixed(1) + " " + units[i] : Math.round(v) + " B";
      v /= 1024;
    }
  }
  function duration(s) {
    if (s === null || s === undefined) return "\u2013";
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m ? m + "m" : s + "s";
  }
  function meter(ratio) {
    var v = Math.max(ratio || 0, 0);
    return { filled: Math.min(Math.round(v * CELLS), CELLS), percent: Math.round(v * 100),
             level: v < 0.6 ? "ok" : v < 0.85 ? "warn" : "bad" };
  }
  function bar(frag, name, ratio, detail) {
    var m = meter(ratio);
    frag.appendChild(el("div", { "class": "label" }, el("span", { text: name }), el("span", { text: detail })));
    var cells = el("div", { "class": "meter " + m.level, role: "meter", "aria-label": name,
                            "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(m.percent) });
    for (var i = 0; i < CELLS; i++) cells.appendChild(el("i", { "class": i < m.filled ? "on" : null }));
    frag.appendChild(cells);
  }
  function row(dl, term, value, cls) {
    dl.appendChild(el("dt", { text: term }));
    dl.appendChild(el("dd", { text: value, "class": cls || null }));
  }
  function hostCard(h) {
    var card = el("div", { "class": "card up" });
    var title = el("h3", { text: h.hostname + " " });
    title.appendChild(el("small", { text: h.platform + " \u00b7 " + h.cpus + " CPU" }));
    card.appendChild(title);
    var load = (h.load || []).map(function (x) { return Math.round(x * 100) / 100; }).join(" ");
    bar(card, "Load", h.loadRatio, load + " (" + meter(h.loadRatio).percent + " %)");
    bar(card, "Memory", h.memUsedRatio, size(h.memUsed) + " / " + size(h.memTotal));
    (h.disks || []).forEach(function (d) { bar(card, "Disk " + d.mount, d.usedRatio, size(d.used) + " / " + size(d.total)); });
    var dl = el("dl");
    row(dl, "Uptime", duration(h.uptimeSec));
    card.appendChild(dl);
    return card;
  }
  function componentCard(c) {
    var p = c.probe, u = c.unitState;
    var unitBad = !!u && u.active !== "active" && u.active !== "unknown";
    var state = p.up === false || unitBad ? "down" : p.up ? "up" : "warn";
    var card = el("div", { "class": "card " + state, "data-key": c.key });
    var title = el("h3", { text: c.label });
    if (c.role) title.appendChild(el("small", { text: c.role }));
    if (c.critical) title.appendChild(el("small", { text: "critical" }));
    card.appendChild(title);
    if (c.url) card.appendChild(el("a", { href: c.url, rel: "noopener noreferrer", text: c.host }));
    else if (c.host) card.appendChild(el("span", { "class": "muted", text: c.host }));
    var dl = el("dl");
    if (p.up === false) row(dl, "Probe", "down" + (p.error ? " (" + p.error + ")" : ""), "bad-text");
    else row(dl, "Probe", p.up ? "up" : "unknown");
    if (p.httpStatus !== null && p.httpStatus !== undefined) row(dl, "HTTP", String(p.httpStatus));
    if (p.latencyMs !== null && p.latencyMs !== undefined) row(dl, "Latency", Math.round(p.latencyMs) + " ms");
    if (p.build) row(dl, "Build", p.build + (p.manifestBuild ? " (manifest " + p.manifestBuild + ")" : ""));
    if (c.unit && u) {
      var text = c.unit + ": " + u.active + (u.sub !== "unknown" ? "/" + u.sub : "");
      if (u.uptimeSec !== null && u.uptimeSec !== undefined) text += " \u00b7 " + duration(u.uptimeSec);
      row(dl, "Unit", text, unitBad ? "bad-text" : null);
    }
    card.appendChild(dl);
    return card;
  }
  function extraCard(c) {
    var dl = el("dl");
    Object.keys(c.probe.extra).forEach(function (k) { row(dl, k, String(c.probe.extra[k])); });
    return el("div", { "class": "card up" }, el("h3", { text: c.label }), dl);
  }
  function upstreamCard(up) {
    var level = up.indicator === "none" ? "up" : (up.indicator === "major" || up.indicator === "critical") ? "down" : "warn";
    var title = el("h3", { text: up.label });
    if (up.region) title.appendChild(el("small", { text: up.region }));
    var card = el("div", { "class": "card " + level }, title,
                  el("span", { "class": "muted", text: up.provider || "" }), el("p", { text: up.description }));
    [[up.components, function (x) { return [x.name, x.status.replace(/_/g, " "), null]; }],
     [up.incidents, function (x) { return [x.name, x.status + " \u00b7 " + x.impact, "warn-text"]; }]]
      .forEach(function (pair) {
        if (!pair[0] || !pair[0].length) return;
        var ul = el("ul", { "class": "plain" });
        pair[0].forEach(function (x) {
          var t = pair[1](x);
          ul.appendChild(el("li", null, el("span", { text: t[0], "class": t[2] }), el("span", { text: t[1] })));
        });
        card.appendChild(ul);
      });
    return card;
  }
  function fill(id, nodes, titleId) {
    var section = document.getElementById(id);
    if (!section) return;
    section.replaceChildren.apply(section, nodes);
    if (titleId) document.getElementById(titleId).hidden = nodes.length === 0;
  }
  function render(s) {
    var header = document.getElementById("overall");
    header.className = "overall-" + s.overall;
    document.getElementById("overall-text").textContent = TEXT[s.overall] || s.overall;
    document.title = (TEXT[s.overall] || s.overall) + " \u00b7 " + s.host.hostname;
    fill("host", [hostCard(s.host)]);
    var cards = s.components.map(componentCard);
    fill("components", cards.length ? cards : [el("p", { "class": "muted", text: "No monitors yet." })]);
    fill("extras", s.components.filter(function (c) { return c.probe.extra; }).map(extraCard), "extras-title");
    fill("upstreams", s.upstreams.map(upstreamCard), "upstreams-title");
  }
  function tick() {
    if (ageEl) ageEl.textContent = String(Math.max(0, Math.floor((Date.now() - updatedAt) / 1000)));
  }
  function poll() {
    timer = null;
    if (busy) return;
    busy = true;
    fetch("/api/status", { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (answer) {
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        var age = Number(answer.headers.get("Age") || 0);
        return answer.json().then(function (s) { updatedAt = Date.now() - 1000 * age; render(s); tick(); });
      })
      .catch(function () { /* keep the last board; "updated Ns ago" keeps growing */ })
      .then(function () { busy = false; schedule(); });
  }
  function schedule() {
    if (timer === null && !busy && !document.hidden) timer = setTimeout(poll, POLL_MS);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { if (timer !== null) { clearTimeout(timer); timer = null; } }
    else if (timer === null && !busy) poll();
  });
  setInterval(tick, TICK_MS);
  schedule();
})();
