// xcache dashboard UI: polls GET /api/overview, renders, and calls the JSON API for actions.
"use strict";
const $ = (sel) => document.querySelector(sel);
const COLORS = ["#ddd", "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"];
const color = (g) => (g === 0 ? COLORS[0] : COLORS[1 + ((g - 1) % (COLORS.length - 1))]);

let token = "";
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) { localStorage.setItem("xcache-token", fromHash); history.replaceState(null, "", location.pathname); }
token = localStorage.getItem("xcache-token") || "";
$("#token").value = token;
$("#token").addEventListener("change", (e) => { token = e.target.value; localStorage.setItem("xcache-token", token); refresh(); });

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || r.status + " " + r.statusText);
  return data;
}

function message(text, isError) {
  const m = $("#message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

let lastOps = null;
function renderOverview(o) {
  $("#meta").textContent = `epoch ${o.epoch} · ${o.coordinator}`;
  const now = Date.now() / 1000;
  if (lastOps && now > lastOps.t) $("#ops").textContent = Math.max(0, Math.round((o.totals.ops_total - lastOps.ops) / (now - lastOps.t)));
  lastOps = { t: now, ops: o.totals.ops_total };
  $("#sessions").textContent = o.totals.sessions;
  $("#dropped").textContent = o.totals.accept_dropped;
  $("#insync").textContent = `${o.proxies.filter((p) => p.in_sync).length}/${o.proxies.length}`;
  const active = o.active_alerts || [];
  $("#active-alerts").replaceChildren(...(active.length ? active.map((a) => el("li", { class: a.severity === "critical" ? "bad" : "", title: a.annotations.description },
    `${new Date(a.since * 1000).toLocaleTimeString()} [${a.severity}] ${a.name}: ${a.annotations.summary}`))
    : [el("li", { class: "ok" }, "none firing")]));
  const sc = o.scale || {};
  $("#scale").textContent = sc.mode && sc.mode !== "off" ? `· scale-out ${sc.mode}: +${sc.extra} proxies` : "";
  const alerts = $("#alerts");
  alerts.replaceChildren(...(o.alerts.length ? o.alerts.slice(-8).reverse().map((a) => el("li", { class: a.level === "error" ? "bad" : "" },
    `${a.time ? new Date(a.time * 1000).toLocaleTimeString() : ""} ${a.kind} ` +
    Object.entries(a).filter(([k]) => !["kind", "time", "level"].includes(k)).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ")))
    : [el("li", {}, "none")]));
}

function renderGroups(o) {
  const box = $("#groups");
  box.replaceChildren(...o.groups.map((g) => {
    const rows = g.servers.map((s) => {
      const role = s.up === false ? "down" : s.role;
      // no Promote on a down server: it could not take writes (the API refuses it too)
      const promote = s.addr !== g.master && s.up !== false ? el("button", {
        "data-testid": `promote-${s.addr}`,
        onclick: async () => {
          if (!confirm(`Promote ${s.addr} to master of group ${g.id}?`)) return;
          try { await api("POST", `/api/groups/${g.id}/promote`, { addr: s.addr }); message(`promoted ${s.addr}`); }
          catch (e) { message(`promote failed: ${e.message}`, true); }
          refresh();
        } }, "Promote") : "";
      const remove = el("button", { "data-testid": `remove-server-${s.addr}`, onclick: () => act(
        `Remove ${s.addr} from group ${g.id}? (its process is not stopped)`, "DELETE",
        `/api/groups/${g.id}/servers/${encodeURIComponent(s.addr)}`, `removed ${s.addr}`) }, "Remove");
      return el("tr", { "data-server": s.addr },
        el("td", {}, s.addr), el("td", { class: role }, role || "?"), el("td", {}, s.expected_role || (s.addr === g.master ? "master" : "replica")),
        el("td", {}, s.link ? `link ${s.link}` : ""), el("td", {}, s.lag_bytes !== undefined ? `${s.lag_bytes} B` : ""),
        el("td", {}, s.memory_bytes !== undefined ? `${(s.memory_bytes / 1048576).toFixed(1)} MiB` : ""),
        el("td", {}, s.keys ?? ""), el("td", {}, promote, " ", remove));
    });
    return el("div", { class: "group", "data-group": g.id },
      el("b", {}, `group ${g.id}`), ` (${g.name}) · master `, el("span", { class: "group-master" }, g.master || "-"), ` · ${g.slots} slots · epoch ${g.epoch} `,
      el("button", { "data-testid": `remove-group-${g.id}`, onclick: () => act(`Remove group ${g.id}? (it must own no slots)`,
        "DELETE", `/api/groups/${g.id}`, `removed group ${g.id}`) }, "Remove group"),
      el("table", {}, el("thead", {}, el("tr", {}, ...["server", "observed role", "topology role", "replication", "lag", "memory", "keys", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...rows)));
  }));
}

function renderSlots(o) {
  const map = $("#slotmap");
  if (map.children.length !== 1024) map.replaceChildren(...Array.from({ length: 1024 }, () => el("div")));
  const groups = new Set();
  for (const r of o.slot_ranges) {
    groups.add(r.group);
    for (let s = r.first; s <= r.last; s++) {
      const d = map.children[s];
      d.style.background = color(r.group);
      d.title = `slot ${s} → ${r.group ? "group " + r.group : "unassigned"}`;
    }
  }
  $("#legend").replaceChildren(...[...groups].sort((a, b) => a - b).map((g) =>
    el("span", {}, el("i", { style: `background:${color(g)}` }), g ? `group ${g}` : "unassigned")));
}

let migTotal = 0;
function renderMigration(o) {
  const m = o.migration || {};
  const left = (m.slots_pending || 0) + (m.slots_migrating || 0);
  migTotal = left ? Math.max(migTotal, left + (m.slots_done || 0)) : 0;
  $("#mig-state").textContent = !left ? "idle" : m.paused ? "paused" : m.state;
  $("#mig-state").className = m.state === "error" ? "bad" : "";
  const bar = $("#mig-progress");
  bar.max = migTotal || 1; bar.value = migTotal ? migTotal - left : 0;
  $("#mig-text").textContent = `${m.slots_pending || 0} pending · ${m.slots_migrating || 0} moving · ${m.slots_done || 0} done · ` +
    `${m.keys_moved || 0} keys · ${m.bytes_moved || 0} B moved · ${m.keys_per_second || 0} keys/s` +
    (m.keys_per_second_limit ? ` (limit ${m.keys_per_second_limit})` : "") + (m.last_error ? ` · last error: ${m.last_error}` : "");
  const w = m.wave || {};
  $("#mig-wave").textContent = w.slots ? `now: slots ${w.slots} from group ${w.source} to group ${w.target}` : "";
  // migrating slots striped in the slot map: target colour with the source's as stripes
  const map = $("#slotmap");
  for (const r of m.migrating || []) {
    for (let s = r.first; s <= r.last; s++) {
      const d = map.children[s];
      if (!d) continue;
      d.style.background = `repeating-linear-gradient(45deg, ${d.style.backgroundColor || color(0)} 0 3px, ${color(r.source)} 3px 6px)`;
      d.title += ` (migrating from group ${r.source})`;
    }
  }
}

function renderProxies(o) {
  $("#proxies tbody").replaceChildren(...o.proxies.map((p) => {
    const s = p.stats || {};
    const reasons = Object.entries(s.accept_dropped_by_reason || {}).map(([k, v]) => `${k}:${v}`).join(" ");
    return el("tr", { "data-proxy": p.addr }, el("td", {}, p.addr), el("td", {}, p.admin_addr),
      el("td", { class: p.in_sync ? "ok" : "bad" }, p.in_sync ? "in sync" : (p.up === false ? "down" : "stale")),
      el("td", {}, p.epoch ?? "-"), el("td", {}, s.sessions ?? "-"), el("td", {}, s.ops_total ?? "-"),
      el("td", {}, `${s.accept_dropped ?? "-"} ${reasons}`), el("td", {}, s.listen_queue ?? "-"), el("td", {}, s.rejected ?? "-"),
      el("td", { class: "bad" }, p.error || ""),
      el("td", {}, el("button", { "data-testid": `remove-proxy-${p.addr}`, onclick: () => act(`Remove proxy ${p.addr}?`,
        "DELETE", `/api/proxies/${encodeURIComponent(p.addr)}`, `removed proxy ${p.addr}`) }, "Remove")));
  }));
  $("#sentinels").replaceChildren(...(o.sentinels.length ? o.sentinels.map((s) =>
    el("li", {}, `${s.addr} `, el("span", { class: s.up ? "ok" : "bad" }, s.up ? "up" : "down"), s.error ? ` ${s.error}` : ""))
    : [el("li", {}, "none")]));
}

async function act(question, method, path, done) {
  if (!confirm(question)) return;
  try { await api(method, path); message(done); } catch (e) { message(e.message, true); }
  refresh();
}

function renderWarnings(o) {
  const w = o.warnings || [];
  $("#warnings").replaceChildren(...(w.length ? w.map((x) => el("li", { class: "warn", "data-kind": x.kind }, x.text))
    : [el("li", { class: "ok" }, "none")]));
  const kids = Object.entries(o.supervised || {});
  $("#supervised").replaceChildren(...(kids.length ? kids.map(([name, k]) => el("li", { "data-child": name }, `${name} `,
    el("span", { class: k.state === "running" ? "ok" : "bad" }, k.state), ` · restarts ${k.restarts}` + (k.state === "running" ? ` · up ${Math.round(k.uptime_s)}s` : "")))
    : [el("li", {}, "not started by xcache up")]));
}

async function refresh() {
  try {
    const o = await api("GET", "/api/overview");
    renderOverview(o); renderGroups(o); renderSlots(o); renderMigration(o); renderProxies(o); renderWarnings(o);
    if (window.xcacheCharts) window.xcacheCharts.refresh(api);
    document.body.dataset.epoch = o.epoch;
  } catch (e) {
    $("#meta").textContent = "error: " + e.message;
  }
}

function form(id, fn) {
  $(id).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(ev.target).entries());
    try { const r = await fn(data); message(`done (epoch ${r.epoch})`); ev.target.reset(); }
    catch (e) { message(e.message, true); }
    refresh();
  });
}
form("#f-group", () => api("POST", "/api/groups", {}));
form("#f-server", (d) => api("POST", `/api/groups/${d.group}/servers`, { addr: d.addr }));
form("#f-slots", (d) => api("POST", "/api/slots/assign", { group: Number(d.group), slots: d.slots }));
form("#f-rebalance", () => api("POST", "/api/slots/rebalance"));
form("#f-proxy", (d) => api("POST", "/api/proxies", d));
form("#f-migrate", (d) => api("POST", "/api/slots/migrate", { from: Number(d.from), to: Number(d.to), slots: d.slots }));
form("#f-throttle", (d) => api("POST", "/api/migration/throttle", { keys_per_second: Number(d.keys_per_second) }));
for (const [id, path] of [["#mig-pause", "pause"], ["#mig-resume", "resume"]]) {
  $(id).addEventListener("click", async () => {
    try { await api("POST", `/api/migration/${path}`); message(`migration ${path}d`); }
    catch (e) { message(e.message, true); }
    refresh();
  });
}

refresh();
setInterval(refresh, 1000);
