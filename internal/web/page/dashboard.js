"use strict";
// Warden's dashboard. It reads GET /api/dashboard every refreshMs: the series of the registry
// that /metrics serves, in one gather. Every figure taken from a metric carries
// data-metric="NAME{label=\"value\"}" (NAME without the warden_ prefix; the figure is the sum
// over the series whose labels match) and data-value, the exact number /metrics has; what the
// page works out itself (rates, shares) carries data-derived instead, so that a test can tell
// the two apart. Nothing here writes API data into the page as HTML.

const refreshMs = 2000;
const token = new URLSearchParams(location.search).get("token") || "";

function api(path, options) {
  const o = Object.assign({ cache: "no-store", headers: {} }, options || {});
  if (token) {
    o.headers.Authorization = "Bearer " + token;
  }
  return fetch(path, o).then((r) =>
    r.json().catch(() => ({ error: r.status + " " + r.statusText })).then((body) => {
      if (!r.ok) {
        throw new Error(body.error || r.status + " " + r.statusText);
      }
      return body;
    })
  );
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) {
      e.setAttribute(k, v);
    }
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function replace(id, ...children) {
  const e = document.getElementById(id);
  e.replaceChildren(...children);
  return e;
}

// selector writes a metric and labels as the data-metric attribute has them.
function selector(name, labels) {
  const keys = Object.keys(labels || {}).sort();
  if (keys.length === 0) {
    return name;
  }
  const esc = (v) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  return name + "{" + keys.map((k) => k + '="' + esc(labels[k]) + '"').join(",") + "}";
}

// Snapshot is one answer of /api/dashboard.
class Snapshot {
  constructor(body) {
    this.series = body.series || {};
    this.time = Date.parse(body.time);
    this.queryLog = body.query_log;
    this.errors = body.errors || [];
  }
  list(name) {
    return this.series["warden_" + name] || [];
  }
  has(name) {
    return ("warden_" + name) in this.series;
  }
  // sum adds the series of name whose labels include labels; a family the server does not
  // export (yet) sums to 0, as it would once exported.
  sum(name, labels) {
    let total = 0;
    for (const s of this.list(name)) {
      if (Object.entries(labels || {}).every(([k, v]) => s.labels[k] === v)) {
        total += s.value;
      }
    }
    return total;
  }
  // values lists the values a label takes in name's series, in order of first appearance.
  values(name, label) {
    const seen = [];
    for (const s of this.list(name)) {
      const v = s.labels[label];
      if (v !== undefined && !seen.includes(v)) {
        seen.push(v);
      }
    }
    return seen;
  }
}

// fig is a figure read from a metric: its exact value in data-value, shown as format says.
function fig(snap, name, labels, format) {
  const v = snap.sum(name, labels);
  return el("span", { "data-metric": selector(name, labels), "data-value": String(v) }, (format || String)(v));
}

function derived(kind, text) {
  return el("span", { "data-derived": kind }, text);
}

function figure(label, value) {
  return el("div", { class: "figure" }, el("span", { class: "label" }, label), el("span", { class: "value" }, value));
}

const seconds = (v) => (v === 0 ? "–" : (v * 1000).toFixed(v < 0.01 ? 2 : 1) + " ms");
const bytes = (v) => (v < 1 << 20 ? (v / 1024).toFixed(1) + " KiB" : (v / (1 << 20)).toFixed(1) + " MiB");
const percent = (part, whole) => (whole > 0 ? ((100 * part) / whole).toFixed(1) + " %" : "–");

function rateOf(name, now, before, labels) {
  if (!before || now.time <= before.time) {
    return "–";
  }
  const r = (now.sum(name, labels) - before.sum(name, labels)) / ((now.time - before.time) / 1000);
  return r >= 100 ? Math.round(r).toLocaleString("en") : r.toFixed(1);
}

function row(cells, head) {
  return el("tr", {}, ...cells.map((c) => el(head ? "th" : "td", { class: c.cls }, c.v)));
}
const num = (v) => ({ v, cls: "num" });
const txt = (v) => ({ v });

function bar(part, whole) {
  const w = whole > 0 ? Math.max(0.5, (100 * part) / whole) : 0;
  const b = el("div", { class: "bar" });
  // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  b.style.width = w.toFixed(1) + "%";
  return b;
}

function renderTraffic(s, before) {
  const hits = s.sum("cache_hits_total"), misses = s.sum("cache_misses_total");
  replace("figures",
    figure("queries", fig(s, "queries_total")),
    figure("queries per second", derived("qps", rateOf("queries_total", s, before))),
    figure("cache hits", fig(s, "cache_hits_total")),
    figure("cache misses", fig(s, "cache_misses_total")),
    figure("cache hit rate", derived("cache_hit_rate", percent(hits, hits + misses))),
    figure("cache entries", fig(s, "cache_entries")),
    figure("cache size", fig(s, "cache_bytes", {}, bytes)),
    figure("mean latency", derived("mean_latency",
      seconds(s.sum("query_duration_seconds_sum") / Math.max(1, s.sum("query_duration_seconds_count"))))),
    figure("injections detected", fig(s, "injections_detected_total")),
    figure("query log rows", fig(s, "query_log_rows_total")),
    figure("query log dropped", fig(s, "query_log_dropped_total")));
}

function renderBreakdown(id, s, before, label) {
  const total = s.sum("queries_total");
  const rows = [row([txt(label), num("queries"), num("per second"), { v: "share", cls: "barcell" }], true)];
  const vals = s.values("queries_total", label)
    .map((v) => [v, s.sum("queries_total", { [label]: v })])
    .sort((a, b) => b[1] - a[1]);
  for (const [v] of vals) {
    const l = { [label]: v };
    rows.push(row([txt(v), num(fig(s, "queries_total", l)), num(derived("qps", rateOf("queries_total", s, before, l))),
      { v: bar(s.sum("queries_total", l), total), cls: "barcell" }]));
  }
  replace(id, ...rows);
}

function renderPolicy(s) {
  const questions = s.sum("policy_questions_total");
  replace("policy-figures",
    figure("questions evaluated", fig(s, "policy_questions_total")),
    figure("alarms", fig(s, "policy_alarms")),
    figure("version", fig(s, "policy_version")));
  const rows = [row([txt("rule set"), num("hits"), num("hit rate"), num("shadow hits"), txt("breaker"), txt("")], true)];
  const sets = s.values("policy_hits_total", "set");
  if (!s.has("policy_hits_total")) {
    rows.push(row([txt(el("span", { class: "muted" }, "no policy on this server"))]));
  }
  for (const set of sets) {
    const l = { set };
    const suspended = s.sum("policy_set_suspended", l) > 0;
    const rules = s.list("policy_rule_suspended").filter((r) => r.labels.set === set && r.value > 0);
    const breaker = el("span", {},
      el("span", { class: suspended ? "bad" : "" }, fig(s, "policy_set_suspended", l, (v) => (v > 0 ? "set suspended" : "in force"))));
    for (const r of rules) {
      breaker.append(el("br"), el("span", { class: "bad" }, "rule ",
        fig(s, "policy_rule_suspended", { set, rule: r.labels.rule }, () => r.labels.rule), " suspended"));
    }
    let action = "";
    if (suspended || rules.length > 0) {
      action = el("button", { type: "button", "data-resume": set }, "Resume");
      action.addEventListener("click", () => resume(set, action));
    }
    rows.push(row([txt(set), num(fig(s, "policy_hits_total", l)),
      num(derived("policy_hit_rate", percent(s.sum("policy_hits_total", l), questions))),
      num(fig(s, "policy_shadow_hits_total", l)), txt(breaker), txt(action)]));
  }
  replace("policy", ...rows);
}

function renderZones(s) {
  const rows = [row([txt("zone"), num("serial"), txt("transfers")], true)];
  for (const zone of s.values("zone_serial", "zone")) {
    const cell = el("span");
    for (const t of s.list("transfers_total").filter((t) => t.labels.zone === zone && t.value > 0)) {
      const l = { zone, kind: t.labels.kind, result: t.labels.result };
      cell.append(el("span", { class: t.labels.result === "success" ? "good" : "bad" },
        t.labels.kind + " " + t.labels.result + " ", fig(s, "transfers_total", l)), " ");
    }
    if (cell.childNodes.length === 0) {
      cell.append(el("span", { class: "muted" }, "none"));
    }
    rows.push(row([txt(zone), num(fig(s, "zone_serial", { zone })), txt(cell)]));
  }
  if (rows.length === 1) {
    rows.push(row([txt(el("span", { class: "muted" }, "no zones served"))]));
  }
  replace("zones", ...rows);
}

function renderUpstreams(s, before) {
  const rows = [row([txt("upstream"), txt("health"), num("RTT"), num("errors")], true)];
  for (const up of s.values("upstream_rtt_seconds", "upstream")) {
    const l = { upstream: up };
    const rtt = s.sum("upstream_rtt_seconds", l);
    const newErrors = before ? s.sum("upstream_errors_total", l) - before.sum("upstream_errors_total", l) : 0;
    let health = el("span", { class: "muted", "data-derived": "health" }, "no reply yet");
    if (newErrors > 0) {
      health = el("span", { class: "bad", "data-derived": "health" }, "failing");
    } else if (rtt > 0) {
      health = el("span", { class: "good", "data-derived": "health" }, "answering");
    }
    rows.push(row([txt(up), txt(health), num(fig(s, "upstream_rtt_seconds", l, seconds)), num(fig(s, "upstream_errors_total", l))]));
  }
  if (rows.length === 1) {
    rows.push(row([txt(el("span", { class: "muted" }, "no forwarders configured"))]));
  }
  replace("upstreams", ...rows);
}

function renderTop(id, kind, log) {
  if (!log) {
    replace(id, el("p", { class: "muted", "data-top": kind, "data-off": "query-log" },
      "The query log is off: start the server with --query-log DIR to count top " + kind + "."));
    return;
  }
  const list = log[kind] || [];
  const ol = el("ol", { "data-top": kind });
  for (const e of list) {
    ol.append(el("li", { "data-key": e.key, "data-count": String(e.count) }, el("span", {}, e.key), el("span", {}, e.count)));
  }
  const note = "last " + Math.round(log.window_seconds / 60) + " min" + (log.sample > 1 ? ", one row in " + log.sample : "");
  replace(id, list.length ? ol : el("p", { class: "muted", "data-top": kind }, "nothing logged yet"), el("p", { class: "muted" }, note));
}

let before = null;
let updates = 0;

function render(s) {
  renderTraffic(s, before);
  renderBreakdown("rcodes", s, before, "rcode");
  renderBreakdown("sources", s, before, "source");
  renderPolicy(s);
  renderZones(s);
  renderUpstreams(s, before);
  renderTop("top-names", "names", s.queryLog);
  renderTop("top-clients", "clients", s.queryLog);
  renderTop("top-blocked", "blocked", s.queryLog);
  before = s;
  updates++;
  document.body.dataset.updates = String(updates);
  const state = document.getElementById("state");
  state.textContent = "updated " + new Date(s.time).toLocaleTimeString("en-GB") +
    (s.errors.length ? " (some metrics failed: " + s.errors.join("; ") + ")" : "");
  delete document.body.dataset.error;
}

function notice(text, attrs) {
  const n = replace("notice", text);
  for (const [k, v] of Object.entries(attrs || {})) {
    n.setAttribute(k, v);
  }
}

function resume(set, button) {
  button.disabled = true;
  return api("/api/policy/resume?set=" + encodeURIComponent(set), { method: "POST" })
    .then((b) => notice(b.message, { "data-resumed": set }))
    .catch((e) => notice("resume " + set + ": " + e.message, { "data-resume-error": set }))
    .then(refresh);
}

// A fragment lets a link, or a test, act as a person would: #resume=SET presses the set's
// Resume button once it is shown, #search=NAME runs a query-log search for NAME.
const fragment = new URLSearchParams(location.hash.slice(1));

function actOnFragment() {
  const set = fragment.get("resume");
  if (set !== null) {
    const b = document.querySelector('button[data-resume="' + CSS.escape(set) + '"]');
    if (b) {
      fragment.delete("resume");
      b.click();
    }
  }
  const name = fragment.get("search");
  if (name !== null) {
    fragment.delete("search");
    const form = document.getElementById("search");
    form.elements.name.value = name;
    form.requestSubmit();
  }
}

let timer = null;

function refresh() {
  clearTimeout(timer);
  return api("/api/dashboard")
    .then((body) => {
      render(new Snapshot(body));
      actOnFragment();
    })
    .catch((e) => {
      document.body.dataset.error = e.message;
      document.getElementById("state").textContent = "cannot read the server: " + e.message;
    })
    .finally(() => {
      timer = setTimeout(refresh, refreshMs);
    });
}

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(ev.target)) {
    if (v.trim() !== "") {
      q.set(k, v.trim());
    }
  }
  const state = document.getElementById("search-state");
  state.textContent = "searching…";
  api("/api/querylog?" + q.toString())
    .then((body) => {
      const rows = [row(["time", "client", "name", "type", "rcode", "source", "policy", "µs"].map(txt), true)];
      for (const r of body.rows) {
        const policy = r.policy_set ? r.policy_set + (r.policy_rule ? " " + r.policy_rule : "") : "";
        const tr = row([txt(r.time), txt(r.client), txt(r.name), txt(r.qtype), txt(r.rcode), txt(r.source), txt(policy), num(r.latency_us)]);
        tr.setAttribute("data-row-name", r.name);
        rows.push(tr);
      }
      replace("search-rows", ...rows);
      state.textContent = body.rows.length + " rows";
      state.dataset.rows = String(body.rows.length);
    })
    .catch((e) => {
      state.textContent = e.message;
      state.dataset.error = e.message;
    });
});

refresh();
