// openfero web UI: theme toggle, local times, chart tooltips, live updates over Server-Sent
// Events.
(function () {
  "use strict";

  var root = document.documentElement;
  function setTheme(t) {
    root.dataset.theme = t;
    localStorage.setItem("openfero-theme", t);
  }

  function relative(ms) {
    var s = Math.round((Date.now() - ms) / 1000);
    var ago = s >= 0;
    s = Math.abs(s);
    var out;
    if (s < 60) out = s + " s";
    else if (s < 3600) out = Math.round(s / 60) + " min";
    else if (s < 86400) out = Math.round(s / 3600) + " h";
    else out = Math.round(s / 86400) + " d";
    return ago ? out + " ago" : "in " + out;
  }

  function localTimes(scope) {
    scope.querySelectorAll("time[datetime]").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      var ms = Date.parse(iso);
      if (isNaN(ms)) return;
      el.title = iso;
      el.textContent = new Date(ms).toLocaleString() + " (" + relative(ms) + ")";
    });
  }

  function wireExpand(scope) {
    scope.querySelectorAll("[data-expand]").forEach(function (b) {
      b.addEventListener("click", function () {
        var open = b.dataset.expand === "open";
        document.querySelectorAll("details.card").forEach(function (d) { d.open = open; });
      });
    });
  }

  // The chart's bars carry a <title> (the browser's own tooltip without JS); with JS the
  // title becomes an instant tooltip that follows the pointer, and the bar under it is marked.
  function wireChart(scope) {
    scope.querySelectorAll(".chart").forEach(function (box) {
      var svg = box.querySelector("svg");
      if (!svg || box.querySelector(".chart-tip")) return;
      svg.querySelectorAll("g.bar > title").forEach(function (t) {
        t.parentNode.setAttribute("data-tip", t.textContent);
        t.remove();
      });
      var tip = document.createElement("div");
      tip.className = "chart-tip";
      tip.hidden = true;
      tip.setAttribute("aria-hidden", "true");
      box.appendChild(tip);
      var current = null;
      function hide() {
        if (current) current.classList.remove("hover");
        current = null;
        tip.hidden = true;
      }
      svg.addEventListener("pointermove", function (e) {
        var bar = e.target.closest ? e.target.closest("g.bar") : null;
        if (!bar) { hide(); return; }
        if (bar !== current) {
          if (current) current.classList.remove("hover");
          bar.classList.add("hover");
          current = bar;
          tip.textContent = bar.getAttribute("data-tip");
          tip.hidden = false;
        }
        var r = box.getBoundingClientRect();
        var x = e.clientX - r.left + box.scrollLeft + 12;
        var y = e.clientY - r.top - tip.offsetHeight - 10;
        if (x + tip.offsetWidth > box.scrollWidth - 4) x = e.clientX - r.left + box.scrollLeft - tip.offsetWidth - 12;
        tip.style.left = Math.max(2, x) + "px";
        tip.style.top = Math.max(2, y) + "px";
      });
      svg.addEventListener("pointerleave", hide);
    });
  }

  // A selector that finds the focused element again in the re-rendered <main>: a form field
  // by name, a card's summary by its alertname, a link by its address.
  function focusKey(el, main) {
    if (!el || !main.contains(el)) return null;
    if (el.name) return "[name='" + CSS.escape(el.name) + "']";
    var card = el.closest("details.card[data-alertname]");
    if (el.tagName === "SUMMARY" && card) {
      return "details.card[data-alertname='" + CSS.escape(card.dataset.alertname) + "'] > summary";
    }
    if (el.tagName === "A" && el.getAttribute("href")) {
      return "a[href='" + CSS.escape(el.getAttribute("href")) + "']";
    }
    if (el.id) return "#" + CSS.escape(el.id);
    return null;
  }

  // Live updates: the server says when the applied state changed; the page re-renders its
  // <main> from the server (same URL, same filters), keeping which cards are collapsed and what
  // was typed into the filters but not submitted yet. A page whose <main> has
  // data-refresh-ms (the cluster page: gossip changes are not log entries) also re-renders
  // on that period. Pages rendered with data-live="off" (forms) are never replaced.
  var live = document.getElementById("live");
  var paused = false;
  var connected = false;
  var refreshing = false;
  var again = false;
  function showState() {
    if (!live) return;
    var s = paused ? "paused" : connected ? "live" : "disconnected";
    live.dataset.state = s;
    live.textContent = s === "live" ? "Live" : s === "paused" ? "Paused" : "Disconnected";
  }
  function refresh() {
    if (paused) return;
    if (refreshing) { again = true; return; }
    refreshing = true;
    // Without location's credentials (a page opened as http://user:password@host/): fetch
    // refuses a URL that carries them, also a relative one resolved against such a page.
    fetch(location.origin + location.pathname + location.search, { headers: { "accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("main");
        var main = document.getElementById("main");
        if (!next || !main) return;
        var closed = {};
        main.querySelectorAll("details.card[data-alertname]").forEach(function (d) {
          if (!d.open) closed[d.dataset.alertname] = true;
        });
        var focused = focusKey(document.activeElement, main);
        var edited = {};
        main.querySelectorAll("form.filters [name]").forEach(function (f) {
          var changed = f.tagName === "SELECT"
            ? Array.prototype.some.call(f.options, function (o) { return o.selected !== o.defaultSelected; })
            : f.value !== f.defaultValue;
          if (changed) edited[f.name] = f.value;
        });
        main.innerHTML = next.innerHTML;
        Object.keys(edited).forEach(function (name) {
          var f = main.querySelector("form.filters [name='" + name + "']");
          if (f) f.value = edited[name];
        });
        main.querySelectorAll("details.card[data-alertname]").forEach(function (d) {
          if (closed[d.dataset.alertname]) d.open = false;
        });
        if (focused) {
          var f = main.querySelector(focused);
          if (f) f.focus();
        }
        localTimes(main);
        wireExpand(main);
        wireChart(main);
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }
  var source = null;
  function connect() {
    var es = new EventSource("/api/events");
    source = es;
    es.addEventListener("open", function () { connected = true; showState(); });
    es.addEventListener("applied", function () { refresh(); });
    es.addEventListener("error", function () {
      connected = false;
      showState();
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(connect, 2000);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("theme-toggle").addEventListener("click", function () {
      setTheme(root.dataset.theme === "dark" ? "light" : "dark");
    });
    localTimes(document);
    wireExpand(document);
    wireChart(document);
    setInterval(function () { localTimes(document); }, 30000);
    if (document.body.dataset.live === "off" || !live) return;
    live.addEventListener("click", function () {
      paused = !paused;
      showState();
      if (!paused) refresh();
    });
    connect();
    // Close the stream when the page goes away (or into the back/forward cache): an open one
    // would hold one of the browser's few connections to this host.
    window.addEventListener("pagehide", function () { if (source) source.close(); });
    window.addEventListener("pageshow", function (e) {
      if (e.persisted) { connect(); refresh(); }
    });
    var every = parseInt(document.getElementById("main").dataset.refreshMs || "0", 10);
    if (every > 0) setInterval(refresh, every);
  });
})();
