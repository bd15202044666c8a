// rackctl web view: reads /api/status, /api/plan and /api/history, follows
// /api/events, and draws them. Every value is set as text (never as HTML).
"use strict";

const STATES = {
  ok: { symbol: "✓", label: "installed, running the rendered config" },
  pending: { symbol: "…", label: "install pending" },
  drift: { symbol: "≠", label: "config drift" },
  failed: { symbol: "✗", label: "install failed" },
  unreachable: { symbol: "⚠", label: "BMC unreachable" },
  off: { symbol: "○", label: "powered off" },
  excluded: { symbol: "⊘", label: "excluded" },
  unknown: { symbol: "?", label: "not observed" },
};
// MAINTENANCE: where a node's maintenance comes from (/api/status
// nodes[].maintenance): rack.yaml, or a local override (rackctl
// maintenance, not in git: drift from git, marked "*").
const MAINTENANCE = {
  spec: { mark: "⚑", text: "on (rack.yaml): no BMC, provisioner or drift change" },
  local: { mark: "⚑*", text: "on, local override (rackctl maintenance, not in git): no BMC, provisioner or drift change" },
  "off-local": { mark: "⚐*", text: "off, local override (rackctl maintenance, not in git); rack.yaml says maintenance: true" },
};
const SVGNS = "http://www.w3.org/2000/svg";
const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const docs = { status: null, plan: null, history: null };
let selected = sessionStorage.getItem("rackctl-node") || "";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function short(commit) { return commit ? commit.slice(0, 12) : "—"; }
function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
function orUnknown(v) { return v === undefined || v === null || v === "" ? "unknown" : v; }

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function load(which) {
  await Promise.all(which.map(async (name) => {
    try {
      docs[name] = await getJSON("/api/" + name);
    } catch (e) {
      docs[name] = { error: String(e) };
    }
  }));
  render();
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function render() {
  const st = docs.status;
  if (st && !st.error) {
    renderHeader(st);
    renderRack(st);
    renderHeld(st);
    renderErrors(st);
  } else if (st) {
    document.getElementById("summary").textContent = st.error;
  }
  renderDetail();
  renderPlan(docs.plan);
  renderHistory(docs.history);
}

function renderHeader(st) {
  document.getElementById("rack-name").textContent = st.rack || "(no valid spec yet)";
  document.title = `${st.rack} — rackctl`;
  document.getElementById("summary").textContent = summaryText(st.summary);
  document.getElementById("observed").textContent = observedText(st);
}

// summaryText counts a rack's servers by state, each with its symbol.
function summaryText(s) {
  const parts = Object.keys(STATES).filter((k) => s[k] > 0).map((k) => `${STATES[k].symbol} ${s[k]} ${k}`);
  return `${s.total} servers: ${parts.join(", ") || "none"}`;
}

// observedText says when the rack's nodes were read and what its loop did.
function observedText(st) {
  const o = st.observation;
  let text = `observation ${o.state}`;
  if (o.observed_at) text += ` at ${when(o.observed_at)} (${o.duration})`;
  if (o.error) text += `: ${o.error}`;
  if (st.watch) text += ` · watch ${st.watch.running ? "running" : "stopped"}, applied ${short(st.watch.last_applied)}`;
  else text += " · no watch loop (rackctl serve)";
  return text;
}

// rackSlots places the nodes: at their rack_unit, the others in list
// order from the top down in the free units. Unit 1 is the bottom.
function rackSlots(nodes) {
  const placed = new Map();
  let top = nodes.length;
  for (const n of nodes) if (n.rack_unit) { placed.set(n.rack_unit, n); top = Math.max(top, n.rack_unit); }
  top = Math.max(top, placed.size + nodes.filter((n) => !n.rack_unit).length);
  let u = top;
  for (const n of nodes) {
    if (n.rack_unit) continue;
    while (placed.has(u)) u--;
    if (u < 1) { top++; u = top; }
    placed.set(u, n);
  }
  return { top, placed };
}

function renderRack(st) {
  document.getElementById("rack").replaceChildren(elevation(st.rack, st.nodes, select));
  const legend = document.getElementById("legend");
  legend.replaceChildren(...Object.entries(STATES).map(([k, v]) =>
    el("li", {}, el("span", { class: `badge state-${k}` }, `${v.symbol} ${k}`), " ", v.label)),
    el("li", {}, el("span", { class: "badge" }, "⚑ maintenance"), " out of automation; * a local override, not in git"));
}

// maintenanceText is a node's maintenance in words, for labels and detail.
function maintenanceText(n) {
  return MAINTENANCE[n.maintenance] ? `maintenance ${MAINTENANCE[n.maintenance].text}` : "";
}

// elevation draws a rack's nodes as it stands, one slot per server (the
// rack page and every rack of the fleet page). With onSelect a slot is a
// button that selects its node; without, a picture.
function elevation(rack, nodes, onSelect) {
  const { top, placed } = rackSlots(nodes);
  const H = 34, W = 400, X = 34;
  const root = svg("svg", { viewBox: `0 0 ${W + X + 10} ${top * H + 20}`, role: "img",
    "aria-label": `rack ${rack}: ${nodes.length} servers` });
  root.append(svg("rect", { x: X - 6, y: 4, width: W + 12, height: top * H + 12, fill: "#37474f", rx: 3 }));
  for (let unit = top; unit >= 1; unit--) {
    const y = 10 + (top - unit) * H;
    root.append(svg("text", { x: 4, y: y + H / 2 + 3, class: "unit" }, `U${unit}`));
    const n = placed.get(unit);
    if (!n) {
      const g = svg("g", { class: "empty" });
      g.append(svg("rect", { x: X, y, width: W, height: H - 3 }));
      root.append(g);
      continue;
    }
    root.append(slot(n, X, y, W, H - 3, onSelect));
  }
  return root;
}

function slot(n, x, y, w, h, onSelect) {
  const state = STATES[n.state] ? n.state : "unknown";
  const controller = n.role === "controller";
  const maint = MAINTENANCE[n.maintenance];
  const label = `${n.name}, ${n.role}${controller ? " (controller)" : ""}: ${n.state}${n.reason ? ", " + n.reason : ""}` +
    (maint ? `; ${maintenanceText(n)}` : "");
  const g = svg("g", { class: `slot state-${state}${onSelect && n.name === selected ? " selected" : ""}`,
    "data-node": n.name, "data-state": n.state, "aria-label": label });
  if (maint) g.setAttribute("data-maintenance", n.maintenance);
  g.append(svg("title", {}, `${n.name} (${n.role}): ${n.state}${n.reason ? " — " + n.reason : ""}${maint ? "; " + maintenanceText(n) : ""}`));
  g.append(svg("rect", { class: "body", x, y, width: w, height: h, rx: 2 }));
  g.append(svg("text", { x: x + 8, y: y + h / 2 + 4, class: "symbol" }, STATES[state].symbol));
  g.append(svg("text", { x: x + 26, y: y + h / 2 + 4, class: "name" }, `${controller ? "★ " : ""}${n.name}${maint ? " " + maint.mark : ""}`));
  g.append(svg("text", { x: x + w * 0.55, y: y + h / 2 + 4, class: "role" }, n.role));
  g.append(svg("text", { x: x + w - 8, y: y + h / 2 + 4, class: "state", "text-anchor": "end" }, n.state));
  if (!onSelect) return g;
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  const choose = () => { onSelect(n.name); };
  g.addEventListener("click", choose);
  g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
  return g;
}

function select(name) {
  selected = name;
  sessionStorage.setItem("rackctl-node", name);
  for (const g of document.querySelectorAll("#rack .slot")) g.classList.toggle("selected", g.dataset.node === name);
  renderDetail();
  document.getElementById("detail-section").scrollIntoView({ block: "nearest" });
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(Boolean).flatMap(([k, v, key]) =>
    [el("dt", {}, k), el("dd", key ? { "data-fact": key } : {}, v)]));
}

function command(text) {
  const b = el("button", { type: "button", title: "copy to the clipboard" }, "copy");
  b.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); b.textContent = "copied"; } catch { b.textContent = "select and copy"; }
  });
  return el("div", { class: "cmd" }, el("code", {}, text), b);
}

function renderDetail() {
  const box = document.getElementById("detail");
  const st = docs.status;
  if (!selected || !st || st.error) return;
  const n = st.nodes.find((x) => x.name === selected);
  if (!n) { box.replaceChildren(el("p", { class: "muted" }, `${selected} is not in the rack any more.`)); return; }
  const obs = st.status ? st.status.nodes.find((x) => x.name === selected) : null;
  const state = STATES[n.state] ? n.state : "unknown";
  const head = el("h3", { "data-node": n.name }, `${n.name} `,
    el("span", { class: `badge state-${state}`, "data-state": n.state }, `${STATES[state].symbol} ${n.state}`));
  const rows = [["role", n.role + (n.role === "controller" ? " ★" : ""), "role"], n.reason && ["why", n.reason, "reason"],
    ["BMC protocol", orUnknown(n.bmc_protocol), "bmc_protocol"],
    ["maintenance", MAINTENANCE[n.maintenance] ? MAINTENANCE[n.maintenance].text : "off", "maintenance"]];
  if (obs) {
    const inst = obs.install || {};
    rows.push(["primary MAC", obs.mac, "mac"], ["BMC MAC", obs.bmc_mac, "bmc_mac"], ["IP", orUnknown(obs.ip), "ip"],
      ["BMC address", orUnknown(obs.bmc_address), "bmc_address"],
      ["BMC reached", obs.bmc_reached ? "yes" : "no" + (obs.bmc_error ? ` — ${obs.bmc_error}` : ""), "bmc_reached"],
      ["power", orUnknown(obs.power), "power"],
      ["install", [inst.state, inst.verify && `(verified by ${inst.verify})`, inst.since && `since ${when(inst.since)}`,
        inst.commit && `commit ${short(inst.commit)}`, inst.reason].filter(Boolean).join(" "), "install"],
      ["config (running vs rendered)", obs.config, "config"],
      ["cluster member", obs.joined + (obs.kubelet_version ? ` (kubelet ${obs.kubelet_version})` : ""), "joined"],
      ["hostnames", obs.hostnames.join(" ") || "—", "hostnames"],
      ["DHCP lease", leaseText(obs.dhcp_lease), "lease"], ["boot device", bootText(obs.boot_device), "boot"]);
  } else {
    rows.push(["observed", "not yet: every other fact is unknown until the first observation", "observed"]);
  }
  const changes = nodeHistory(n.name);
  box.replaceChildren(head, facts(rows),
    el("h4", {}, "Last changes touching it"),
    changes.length ? el("ul", { class: "node-history" }, changes.map((e) =>
      el("li", {}, `${when(e.time)} ${e.outcome} ${short(e.commit)} ${e.detail ? "— " + e.detail.split("\n")[0] : ""}`)))
      : el("p", { class: "muted" }, "none recorded"),
    el("h4", {}, "Commands"),
    command(`rackctl ipmi ${n.name} power status`), command(`rackctl ipmi ${n.name} diag`),
    command(`rackctl plan --target ${n.name}`));
}

// leaseText: the leased address and until when, or why there is none or
// it is unknown (never a guess).
function leaseText(l) {
  if (!l) return "unknown: not in this rack's status document (an older rackctl)";
  if (l.state === "leased") return `${l.ip} to ${l.mac}, ${l.expires ? "expires " + when(l.expires) : "never expires"}`;
  if (l.state === "none") return `no lease: ${l.reason}`;
  return `unknown: ${l.reason || "not read"}`;
}

// bootText: the boot device override as the BMC reported it.
function bootText(b) {
  if (!b) return "unknown: not in this rack's status document (an older rackctl)";
  if (b.state !== "read") return `unknown: ${b.reason || "not read"}`;
  return `${b.device}, ${b.persistent ? "persistent" : "next boot only"}${b.efi ? ", EFI" : ""}`;
}

function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// nodeHistory: the records that name the node (disrupted nodes, install
// commits, details), newest first.
function nodeHistory(name) {
  const h = docs.history;
  if (!h || h.error) return [];
  const re = new RegExp("(^|[^A-Za-z0-9-])" + escapeRegExp(name) + "([^A-Za-z0-9-]|$)");
  return h.entries.filter((e) => {
    const dis = e.watch && e.watch.disruptive ? e.watch.disruptive.flatMap((r) => r.nodes) : [];
    return dis.includes(name) || re.test(e.detail || "");
  }).reverse().slice(0, 8);
}

function renderHeld(st) {
  const box = document.getElementById("held");
  if (!st.held.length) { box.replaceChildren(el("p", { class: "muted", id: "no-held" }, "No commit is held.")); return; }
  box.replaceChildren(...st.held.map((h) => {
    const why = [h.reason];
    if (h.over_limit) why.push(`over the limit: ${h.over_limit.join("; ")}`);
    if (h.outside_window) why.push("outside every disruptive window");
    const dis = (h.disruptive || []).map((r) => `${r.role}: ${r.nodes.join(", ")}`).join("; ");
    const item = el("div", { class: "held", "data-commit": h.commit },
      el("p", {}, el("strong", {}, short(h.commit)), ` by ${h.author || "unknown"}, held since ${when(h.since)}`),
      el("p", {}, why.join(" · ")), dis && el("p", { class: "disruptive" }, `⚡ disrupts ${dis}`));
    if (meta("rackctl-approve") === "on") {
      const b = el("button", { type: "button", class: "approve" }, `Approve ${short(h.commit)}`);
      b.addEventListener("click", () => approve(h.commit));
      item.append(b);
    } else {
      item.append(command(h.approve_command));
    }
    return item;
  }));
}

// approve asks the API to release commit; the answer stays shown (outside
// the held list, which the next status re-draws).
async function approve(commit) {
  const res = document.getElementById("approve-status");
  const token = document.getElementById("token").value.trim();
  res.className = "approve-result";
  res.textContent = "approving…";
  let body = {};
  try {
    const r = await fetch("/api/approve", { method: "POST", cache: "no-store", headers: {
      "Content-Type": "application/json", Authorization: `Bearer ${token}`, "X-Rackctl-CSRF": meta("rackctl-csrf") },
    body: JSON.stringify({ commit }) });
    body = await r.json().catch(() => ({ error: `${r.status}` }));
    if (!r.ok) throw new Error(body.error || String(r.status));
    res.className = "approve-result done";
    res.textContent = `approved ${short(body.approved)}: the loop applies it at its next check`;
  } catch (e) {
    res.className = "approve-result error";
    res.textContent = `refused: ${e.message}`;
  }
}

function renderErrors(st) {
  const box = document.getElementById("errors");
  if (!st.last_errors.length) { box.replaceChildren(); return; }
  box.replaceChildren(el("h3", {}, "Last errors"), el("ul", {}, st.last_errors.map((e) =>
    el("li", {}, `${when(e.time)} ${e.outcome} ${short(e.commit)}: ${e.message}`))));
}

function renderPlan(p) {
  const box = document.getElementById("plan");
  if (!p) return;
  if (p.error) { box.replaceChildren(el("p", { class: "muted" }, p.error)); return; }
  const head = el("p", { id: "plan-state", "data-state": p.state });
  if (p.state === "off") head.textContent = "This server does not plan.";
  else if (p.state === "pending") head.textContent = "Planning… (pending: no plan finished yet)";
  else {
    head.textContent = p.planned_at ? `Planned at ${when(p.planned_at)} (${p.duration})` : "";
    if (p.error) head.append(` — the last plan failed: ${p.error}`);
  }
  const parts = [head];
  if (p.plan) {
    const c = p.plan.counts;
    parts.push(el("p", {}, p.plan.has_changes
      ? `${c.add} to add, ${c.change} to change, ${c.destroy} to destroy` +
        (p.plan.commit ? ` — commit ${short(p.plan.commit)}` : "")
      : "No changes: the rack matches the configuration."));
    if (p.plan.disruption.disruptive) parts.push(el("p", { class: "disruptive" },
      `⚡ disruptive: interrupts ${p.plan.disruption.interrupted_nodes.join(", ") || "—"}`));
  }
  for (const l of p.layers) {
    parts.push(el("div", { class: "layer", "data-layer": l.layer }, el("h3", {}, `layer ${l.layer}`),
      l.nodes.map((g) => [el("h4", {}, g.node || "rack"), el("ul", {}, g.changes.map(change))])));
  }
  box.replaceChildren(...parts);
}

function change(c) {
  const line = [el("code", {}, c.action), " ", c.address, c.reason ? ` — ${c.reason}` : "",
    c.disruptive ? el("span", { class: "disruptive" }, " ⚡ disruptive") : ""];
  if (!c.diff) return el("li", {}, line);
  return el("li", {}, el("details", {}, el("summary", {}, line), el("pre", { class: "diff" }, c.diff)));
}

function renderHistory(h) {
  const box = document.getElementById("history");
  if (!h) return;
  if (h.error) { box.replaceChildren(el("li", { class: "muted" }, h.error)); return; }
  if (!h.entries.length) { box.replaceChildren(el("li", { class: "muted" }, "Nothing recorded yet.")); return; }
  box.replaceChildren(...h.entries.slice().reverse().map((e) => {
    const w = e.watch || {};
    const who = [e.author && `by ${e.author}`, w.signed_by && `signed by ${w.signed_by}`].filter(Boolean).join(", ");
    const planned = e.planned ? ` (+${e.planned.add} ~${e.planned.change} -${e.planned.destroy})` : "";
    return el("li", { class: `outcome-${e.outcome}` }, el("span", { class: "mono" }, when(e.time)), " ",
      el("strong", {}, e.outcome), ` ${e.source}${w.trigger ? "/" + w.trigger : ""} ${short(e.commit)} ${who}${planned}`,
      e.detail ? el("div", { class: "muted" }, e.detail.split("\n")[0]) : "");
  }));
}

// follow re-reads what an event concerns; EventSource reconnects by itself.
function follow() {
  const live = document.getElementById("live");
  const es = new EventSource("/api/events");
  es.onopen = () => { live.textContent = "● live"; live.className = "live-on"; };
  es.onerror = () => { live.textContent = "○ reconnecting"; live.className = "live-off"; };
  const on = (type, which) => es.addEventListener(type, () => load(which));
  on("outcome", ["status", "history"]);
  on("observation", ["status"]);
  on("plan", ["plan"]);
  on("approval", ["status", "history"]);
}

// The fleet page (/fleet): every configured rack's elevation and summary
// from GET /api/fleet, re-read every FLEET_REFRESH ms (the server caches
// it, so viewers do not multiply the racks' load).
const FLEET_REFRESH = 15000;

async function loadFleet() {
  let doc;
  try {
    doc = await getJSON("/api/fleet");
  } catch (e) {
    document.getElementById("fleet-summary").textContent = String(e);
    return;
  }
  renderFleet(doc);
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function renderFleet(doc) {
  const down = doc.racks.filter((r) => !r.reachable).length;
  document.getElementById("fleet-summary").textContent =
    `${doc.racks.length} racks${down ? `, ${down} unreachable` : ""} · read at ${when(doc.queried_at)} ` +
    `(each rack within ${doc.timeout}, shown to every viewer for ${doc.cache_for})`;
  document.getElementById("fleet").replaceChildren(...doc.racks.map(fleetRack));
}

// fleetRack is one rack's card: a rack that did not answer says why, and
// shows no slots: nothing of it was seen.
function fleetRack(r) {
  const link = httpURL(r.url) ? el("a", { href: r.url.replace(/\/*$/, "/") }, r.name) : r.name;
  const card = el("section", { class: "fleet-rack", "data-rack": r.name, "data-reachable": String(r.reachable) },
    el("h2", {}, link));
  if (!r.reachable || !r.status) {
    card.append(el("p", { class: "unreachable", "data-state": "unreachable" }, `${STATES.unreachable.symbol} unreachable: ${r.error || "no document"}`));
    return card;
  }
  const st = r.status;
  if (st.rack && st.rack !== r.name) card.append(el("p", { class: "muted" }, `reports itself as rack ${st.rack}`));
  card.append(el("p", { class: "fleet-summary" }, summaryText(st.summary)), el("p", { class: "muted" }, observedText(st)));
  if (st.held.length) card.append(el("p", { class: "disruptive" }, `held: ${st.held.map((h) => short(h.commit)).join(", ")}`));
  card.append(el("div", { class: "rack" }, elevation(st.rack || r.name, st.nodes)));
  return card;
}

// httpURL: only a web address becomes a link (never javascript: or data:).
function httpURL(u) {
  try { return ["http:", "https:"].includes(new URL(u).protocol); } catch { return false; }
}

if (document.body.dataset.page === "fleet") {
  loadFleet();
  setInterval(loadFleet, FLEET_REFRESH);
} else {
  load(["status", "plan", "history"]).then(follow);
}
