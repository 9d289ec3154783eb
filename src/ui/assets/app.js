// openfero web UI: theme toggle, local times, live updates over Server-Sent Events.
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

  // Live updates: the server says when the applied state changed; the page re-renders its
  // <main> from the server (same URL, same filters), keeping which cards are collapsed.
  var live = document.getElementById("live");
  var paused = false;
  var connected = false;
  var refreshing = false;
  var again = false;
  function showState() {
    var s = paused ? "paused" : connected ? "live" : "disconnected";
    live.dataset.state = s;
    live.textContent = s === "live" ? "Live" : s === "paused" ? "Paused" : "Disconnected";
  }
  function refresh() {
    if (paused) return;
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.href, { headers: { "accept": "text/html" } })
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
        var focused = document.activeElement && document.activeElement.name;
        main.innerHTML = next.innerHTML;
        main.querySelectorAll("details.card[data-alertname]").forEach(function (d) {
          if (closed[d.dataset.alertname]) d.open = false;
        });
        if (focused) {
          var f = main.querySelector("[name='" + focused + "']");
          if (f) f.focus();
        }
        localTimes(main);
        wireExpand(main);
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }
  function connect() {
    var es = new EventSource("/api/events");
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
    live.addEventListener("click", function () {
      paused = !paused;
      showState();
      if (!paused) refresh();
    });
    localTimes(document);
    wireExpand(document);
    setInterval(function () { localTimes(document); }, 30000);
    if (document.body.dataset.live !== "off") connect();
  });
})();
