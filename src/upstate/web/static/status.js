/* Upstate status page: live updates and day-bar tooltips. No framework, no build.
   Without this script the page is complete; with it:
   - an EventSource on /s/<slug>/events; on each "change" event the page is fetched again
     and every [data-live] region whose HTML differs is swapped in place;
   - when EventSource is missing or keeps failing, the page is polled every 30 s;
   - nothing runs while the tab is hidden (the stream is closed, polling pauses);
   - day bars get a tooltip on hover and keyboard focus (arrow keys, Home, End),
     read out through a polite live region. */
(function () {
  "use strict";
  var me = document.currentScript;
  var eventsUrl = me && me.getAttribute("data-events");
  var POLL_MS = 30000;
  var source = null, pollTimer = null, failures = 0, busy = false;

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var changed = false;
    document.querySelectorAll("[data-live]").forEach(function (old) {
      var fresh = doc.querySelector('[data-live="' + old.getAttribute("data-live") + '"]');
      if (fresh && fresh.innerHTML !== old.innerHTML) {
        // A reader moving along a row of day bars keeps their place: the same row (by its
        // component's id) and the same day get focus and the tip back after the swap.
        var active = document.activeElement;
        var held = active && old.contains(active) && active.classList.contains("bars");
        var owner = held && active.closest("[id]"), ownerId = owner ? owner.id : null;
        var day = held ? visible(active).indexOf(active.querySelector("i.on")) : -1;
        old.innerHTML = fresh.innerHTML;
        changed = true;
        if (held) {
          var home = ownerId && document.getElementById(ownerId);
          var bar = (home || old).querySelector(".bars");
          if (bar) {
            bar.focus();
            var days = visible(bar);
            if (day >= 0 && days[day]) show(bar, days[day]);
          }
        }
      }
    });
    if (changed) document.documentElement.setAttribute("data-updated", String(Date.now()));
    return changed;
  }

  /* The server caches a page for a second: a change announced just after a render may
     not be in the first answer, so when nothing changed after an event, ask once more. */
  function refresh(retry) {
    if (busy || document.hidden) return;
    busy = true;
    fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin", cache: "no-cache" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html && !swap(html) && retry) setTimeout(function () { refresh(false); }, 1500);
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  function poll() {
    if (pollTimer) return;
    pollTimer = setInterval(function () { refresh(false); }, POLL_MS);
  }

  function stopPoll() { clearInterval(pollTimer); pollTimer = null; }

  function connect() {
    if (!eventsUrl || !window.EventSource || failures > 3) { poll(); return; }
    source = new EventSource(eventsUrl);
    source.addEventListener("change", function () { failures = 0; refresh(true); });
    source.onopen = function () { failures = 0; stopPoll(); };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        failures += 1; source = null; poll();
        setTimeout(function () { if (!document.hidden && !source) connect(); }, 5000 * failures);
      }
    };
  }

  function disconnect() { if (source) { source.close(); source = null; } stopPoll(); }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { disconnect(); } else { refresh(false); connect(); }
  });

  /* --- day tooltips --- */
  var tip = document.createElement("div");
  tip.className = "tip"; tip.hidden = true; tip.setAttribute("role", "status");
  tip.setAttribute("aria-live", "polite");
  document.body.appendChild(tip);
  var lang = document.documentElement.lang || "en";
  var dateFmt = window.Intl ? new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }) : null;
  var quiet = (me && me.getAttribute("data-quiet")) || "100% uptime · no downtime";
  var noData = (me && me.getAttribute("data-nodata")) || "no data";

  function dayText(bar, i) {
    if (i.title) { i.setAttribute("data-t", i.title); i.removeAttribute("title"); }
    var t = i.getAttribute("data-t");
    if (t) return t;
    var cells = bar.children, idx = Array.prototype.indexOf.call(cells, i);
    var end = Date.parse(bar.getAttribute("data-end") + "T00:00:00Z");
    var day = new Date(end - (cells.length - 1 - idx) * 86400000);
    var what = i.classList.contains("n") ? noData : quiet;
    return (dateFmt ? dateFmt.format(day) : day.toISOString().slice(0, 10)) + " · " + what;
  }

  function show(bar, i) {
    bar.querySelectorAll("i.on").forEach(function (x) { x.classList.remove("on"); });
    i.classList.add("on");
    tip.textContent = dayText(bar, i);
    tip.hidden = false;
    var r = i.getBoundingClientRect(), w = tip.offsetWidth;
    var left = Math.max(8, Math.min(window.scrollX + r.left + r.width / 2 - w / 2, window.scrollX + document.documentElement.clientWidth - w - 8));
    tip.style.left = left + "px";
    tip.style.top = (window.scrollY + r.bottom + 8) + "px";
  }

  function hide() {
    tip.hidden = true;
    document.querySelectorAll(".bars i.on").forEach(function (x) { x.classList.remove("on"); });
  }

  function visible(bar) {
    return Array.prototype.filter.call(bar.children, function (i) { return i.offsetWidth > 0; });
  }

  document.addEventListener("mouseover", function (e) {
    var i = e.target.closest && e.target.closest(".bars i");
    if (i) show(i.parentNode, i); else if (!tip.hidden && !(document.activeElement && document.activeElement.classList.contains("bars"))) hide();
  });
  document.addEventListener("focusin", function (e) {
    var bar = e.target.classList && e.target.classList.contains("bars") ? e.target : null;
    if (bar) { var days = visible(bar); if (days.length) show(bar, days[days.length - 1]); } else hide();
  });
  document.addEventListener("focusout", function (e) {
    if (e.target.classList && e.target.classList.contains("bars")) hide();
  });
  document.addEventListener("keydown", function (e) {
    var bar = document.activeElement;
    if (!bar || !bar.classList || !bar.classList.contains("bars")) return;
    var days = visible(bar), on = bar.querySelector("i.on"), k = days.indexOf(on);
    if (e.key === "ArrowLeft") k = Math.max(0, k - 1);
    else if (e.key === "ArrowRight") k = Math.min(days.length - 1, k + 1);
    else if (e.key === "Home") k = 0;
    else if (e.key === "End") k = days.length - 1;
    else if (e.key === "Escape") { hide(); return; }
    else return;
    e.preventDefault();
    if (days[k]) show(bar, days[k]);
  });

  connect();
})();
