/* Parley's pages: local times, the SLA countdown, the credit split, the live recommendation and the
   dispute page's live timeline. Everything works without this script; it only adds convenience. */
(function () {
  "use strict";

  // --- times in the viewer's time zone ----------------------------------------------------------
  var zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }
  var plain = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  var zoned = new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
    timeZoneName: "short"
  });

  function localTimes(root) {
    root.querySelectorAll("time.local[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) { return; }
      el.title = el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
      el.textContent = (el.classList.contains("due") ? zoned : plain).format(at);
    });
    document.querySelectorAll("[data-timezone]").forEach(function (el) { el.textContent = zone; });
  }

  // --- the SLA countdown (wall-clock time to the due instant) -------------------------------------
  function span(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    if (d) { return d + "d " + h + "h"; }
    if (h) { return h + "h " + m + "m"; }
    if (m) { return m + "m " + r + "s"; }
    return r + "s";
  }

  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = (new Date(el.getAttribute("data-countdown")) - Date.now()) / 1000;
      if (isNaN(left)) { return; }
      el.textContent = left > 0 ? span(left) + " from now" : "deadline passed " + span(left) + " ago";
      el.classList.toggle("over", left <= 0);
    });
  }

  // --- the credit split's second half --------------------------------------------------------------
  function splits(root) {
    root.querySelectorAll("[data-split]").forEach(function (box) {
      var direct = box.querySelector("[data-share=direct]"), partner = box.querySelector("[data-share=partner]");
      if (!direct || !partner) { return; }
      function other(from, to) {
        var v = from.value.trim();
        if (/^\d{1,3}$/.test(v) && +v <= 100) { to.value = String(100 - +v); }
      }
      direct.addEventListener("input", function () { other(direct, partner); });
      partner.addEventListener("input", function () { other(partner, direct); });
    });
  }

  // --- the charter's recommendation, exactly as domain/scoring.py computes it ----------------------
  // Python's round() rounds half to even on the exact binary value; toFixed(100) gives that value's
  // exact decimal digits for the magnitudes here, so ties are detected exactly.
  function roundHalfEven(x, places) {
    var neg = x < 0, parts = Math.abs(x).toFixed(100).split(".");
    var kept = parts[1].slice(0, places), rest = parts[1].slice(places);
    var digits = BigInt(parts[0] + kept);
    var up = rest[0] > "5" || (rest[0] === "5" && /[1-9]/.test(rest.slice(1)));
    var tie = rest[0] === "5" && !/[1-9]/.test(rest.slice(1));
    if (up || (tie && digits % 2n === 1n)) { digits += 1n; }
    var value = Number(digits) / Math.pow(10, places);
    return neg ? -value : value;
  }

  function roundInt(x) {  // Python's round(x) -> int
    var f = Math.floor(x), diff = x - f;
    if (diff > 0.5) { return f + 1; }
    if (diff < 0.5) { return f; }
    return f % 2 === 0 ? f : f + 1;
  }

  function score(c, w) {
    var total = w.win_probability + w.lifetime_value + w.strategic_fit;
    var top = Math.max(c.lifetime_value.direct, c.lifetime_value.partner) || 1.0;
    var out = {};
    ["direct", "partner"].forEach(function (ch) {
      var value = w.win_probability * c.win_probability[ch]
        + w.lifetime_value * c.lifetime_value[ch] / top
        + w.strategic_fit * (c.strategic_fit[ch] - 1) / 4;
      out[ch] = roundHalfEven(value / total, 4);
    });
    return out;
  }

  function recommend(c, w) {
    var s = score(c, w), d = s.direct, p = s.partner, owner;
    if (Math.abs(d - p) < w.co_sell_margin) { owner = "co_sell"; } else { owner = d > p ? "direct" : "partner"; }
    var both = d + p;
    var directPct = both === 0 ? 50 : roundInt(d / both * 20) * 5;
    return { owner: owner, credit_split: { direct: directPct, partner: 100 - directPct }, scores: s };
  }

  var OWNER = { direct: "Direct sales", partner: "Partner", co_sell: "Co-sell" };

  function readCriteria(box) {
    var c = { win_probability: {}, lifetime_value: {}, strategic_fit: {} }, ok = true;
    box.querySelectorAll("[data-criterion]").forEach(function (input) {
      var key = input.getAttribute("data-criterion"), ch = input.getAttribute("data-channel");
      var text = input.value.trim(), v = Number(text);
      var valid = text !== "" && isFinite(v) && (
        key === "win_probability" ? v >= 0 && v <= 1 :
        key === "lifetime_value" ? v >= 0 : Number.isInteger(v) && v >= 1 && v <= 5);
      ok = ok && valid;
      c[key][ch] = v;
    });
    return ok ? c : null;
  }

  function recommendations(root) {
    var source = document.getElementById("charter-weights");
    if (!source) { return; }
    var weights = JSON.parse(source.textContent);
    root.querySelectorAll("form").forEach(function (form) {
      var box = form.querySelector("[data-criteria]"), out = form.querySelector("[data-recommendation]");
      if (!box || !out) { return; }
      function update() {
        var c = readCriteria(box);
        if (!c) { out.textContent = "Enter all six criteria to see the charter's recommendation."; return; }
        var r = recommend(c, weights);
        var chosen = form.querySelector("[data-owner]:checked");
        var text = "Recommendation: " + OWNER[r.owner] + ", credit direct " + r.credit_split.direct +
          "% / partner " + r.credit_split.partner + "% (scores: direct " + r.scores.direct +
          ", partner " + r.scores.partner + ").";
        if (chosen) {  // as domain/scoring.py's follows: the owner, and the split within the charter's tolerance
          var share = form.querySelector("[data-share=direct]"), typed = share ? share.value.trim() : "";
          var tolerance = weights.follows_tolerance_pct;
          if (chosen.value !== r.owner) {
            text += " Your outcome (" + OWNER[chosen.value] + ") departs from it.";
          } else if (/^\d{1,3}$/.test(typed) && +typed <= 100 && Math.abs(+typed - r.credit_split.direct) > tolerance) {
            text += " Your credit split (direct " + typed + "%) is more than " + tolerance +
              " points from it: your outcome departs from it.";
          } else {
            text += " Your outcome follows it" + (typed === "" ? " if the credit split stays within " + tolerance +
              " points of it." : ".");
          }
        }
        out.textContent = text;
        out.setAttribute("data-owner", r.owner);
      }
      form.addEventListener("input", update);
      form.addEventListener("change", update);
      update();
    });
  }

  // --- the dispute page follows its dispute -------------------------------------------------------
  function follow() {
    var timeline = document.getElementById("timeline"), status = document.getElementById("live-status");
    if (!timeline || !status || !timeline.getAttribute("data-poll")) { return; }
    var note = document.getElementById("live-note");
    var seq = status.getAttribute("data-seq"), state = status.getAttribute("data-status");
    var busy = false;
    function poll() {
      if (busy || document.visibilityState === "hidden" || state === "resolved" || state === "withdrawn") { return; }
      busy = true;
      fetch(timeline.getAttribute("data-poll") + "?since=" + seq, { credentials: "same-origin" })
        .then(function (response) {
          if (response.status !== 200) { return null; }
          var newSeq = response.headers.get("X-Parley-Seq"), newState = response.headers.get("X-Parley-Status");
          return response.text().then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var part = function (name) { return doc.querySelector("[data-part=" + name + "]"); };
            if (part("status")) { status.innerHTML = part("status").innerHTML; }
            if (part("timeline")) { timeline.innerHTML = part("timeline").innerHTML; }
            status.setAttribute("data-seq", newSeq);
            localTimes(document);
            tick();
            if (note) {
              note.hidden = false;
              if (newState !== state) {
                note.innerHTML = "";
                note.append("This dispute moved on (now " + newState.replace("_", " ") + "). ");
                var link = document.createElement("a");
                link.href = window.location.pathname;
                link.textContent = "Reload to see the actions open to you.";
                note.append(link);
              } else {
                note.textContent = "New activity in the timeline.";
              }
            }
            seq = newSeq;
            state = newState;
          });
        })
        .catch(function () { /* try again at the next tick */ })
        .then(function () { busy = false; });
    }
    window.setInterval(poll, 3000);
  }

  function focusErrors() {
    var first = document.querySelector("[data-autofocus]");
    if (!first) { return; }
    var details = first.closest("details");
    if (details) { details.open = true; }
    first.focus();
  }

  window.Parley = { score: score, recommend: recommend, roundHalfEven: roundHalfEven };

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    tick();
    window.setInterval(tick, 1000);
    splits(document);
    recommendations(document);
    follow();
    focusErrors();
  });
}());
