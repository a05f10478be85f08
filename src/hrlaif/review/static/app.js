// hrlaif review page. Untrusted text (prompts, model outputs, names) only ever goes into the
// DOM through textContent; nothing here builds HTML from strings.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const state = { view: "label", item: { label: null, satisfaction: null }, history: { label: [], satisfaction: [] },
                busy: false };

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function setStatus(msg, isError) {
  const s = $("status");
  s.textContent = msg || "";
  s.className = isError ? "error" : "";
}

function reviewer() { return $("reviewer").value.trim(); }

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = CSRF;
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({ error: "bad response" }));
  if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
  return data;
}

function fillCategories(select, progress) {
  const have = new Set(Array.from(select.options).map((o) => o.value));
  for (const cat of Object.keys(progress)) {
    if (!have.has(cat)) { const o = el("option", cat); o.value = cat; select.appendChild(o); }
  }
}

function renderProgress(tbody, progress) {
  tbody.replaceChildren();
  for (const [cat, p] of Object.entries(progress)) {
    const tr = el("tr");
    tr.dataset.category = cat;
    tr.appendChild(el("td", cat));
    tr.appendChild(el("td", p.done, "num done"));
    tr.appendChild(el("td", p.items, "num"));
    const td = el("td");
    const bar = el("progress");
    bar.max = p.items; bar.value = p.done;
    td.appendChild(bar);
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
}

function showText(prefix, item) {
  $(prefix + "-item-category").textContent = item.category;
  $(prefix + "-prompt").textContent = item.prompt;
  $(prefix + "-ref-box").hidden = !item.reference;
  $(prefix + "-reference").textContent = item.reference || "";
  const ol = $(prefix + "-choices");
  ol.replaceChildren();
  for (const c of item.choices || []) ol.appendChild(el("li", c));
  $(prefix + "-choices-box").hidden = !(item.choices && item.choices.length);
}

const KIND = { label: { prefix: "label", select: "label-category", progress: "label-progress" },
               satisfaction: { prefix: "sat", select: "sat-category", progress: "sat-progress" } };

async function loadNext(kind) {
  const k = KIND[kind];
  const name = reviewer();
  if (!name) {
    $(k.prefix + "-item").hidden = true;
    setStatus("Enter your name to start.", true);
    $("reviewer").focus();
    return;
  }
  const q = new URLSearchParams({ kind, reviewer: name, category: $(k.select).value });
  const data = await api("GET", "/api/next?" + q.toString());
  fillCategories($(k.select), data.progress);
  renderProgress($(k.progress), data.progress);
  display(kind, data.item);
}

function display(kind, item) {
  const k = KIND[kind];
  state.item[kind] = item;
  $(k.prefix + "-item").hidden = !item;
  $(k.prefix + "-done").hidden = !!item;
  if (!item) return;
  showText(k.prefix, item);
  if (kind === "label") {
    $("resp-a").textContent = item.a;
    $("resp-b").textContent = item.b;
  } else {
    $("sat-response").textContent = item.response;
    $("sat-reason").value = "";
  }
}

async function submit(kind, payload) {
  const item = state.item[kind];
  if (!item || state.busy) return;
  state.busy = true;
  try {
    const path = kind === "label" ? "/api/label" : "/api/satisfaction";
    await api("POST", path, Object.assign({ reviewer: reviewer(), item_id: item.id }, payload));
    state.history[kind].push(item.id);
    setStatus("saved");
    await loadNext(kind);
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    state.busy = false;
  }
}

// Undo: show the last item judged in this session again; judging it adds a newer row (the latest counts).
async function undo(kind) {
  const id = state.history[kind].pop();
  if (id === undefined || state.busy) { setStatus("nothing to undo"); return; }
  try {
    const q = new URLSearchParams({ kind, reviewer: reviewer(), id: String(id) });
    const data = await api("GET", "/api/item?" + q.toString());
    display(kind, data.item);
    setStatus("judge this one again");
  } catch (e) { setStatus(e.message, true); }
}

function labelChoice(choice) { return submit("label", { choice }); }

function satChoice(which) {
  const satisfied = which === "yes" ? true : which === "no" ? false : null;
  return submit("satisfaction", { satisfied, reason: $("sat-reason").value });
}

function cell(tr, v, num) { tr.appendChild(el("td", v === null || v === undefined ? "" : v, num ? "num" : "")); }
const pct = (v) => (v === null || v === undefined ? "" : (100 * v).toFixed(1) + "%");
const num3 = (v) => (v === null || v === undefined ? "" : v.toFixed(3));
const pp = (v) => (v === null || v === undefined ? "" : (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + " pp");
const ci = (c, f) => (c ? "[" + f(c[0]) + ", " + f(c[1]) + "]" : "");

function table(id, head, rows) {
  const t = $(id);
  t.replaceChildren();
  const hr = el("tr");
  for (const h of head) hr.appendChild(el("th", h));
  const thead = el("thead"); thead.appendChild(hr); t.appendChild(thead);
  const tb = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    tr.dataset.key = r.key;
    r.cells.forEach((v, i) => cell(tr, v, i >= (r.numFrom || 2)));
    tb.appendChild(tr);
  }
  t.appendChild(tb);
}

async function loadResults() {
  const res = await api("GET", "/api/results");
  const ag = [];
  for (const [src, block] of Object.entries(res.labels.by_source)) {
    for (const [cat, a] of [...Object.entries(block.categories), ["(all)", block.overall]]) {
      ag.push({ key: src + "/" + cat, cells: [src, cat, a.n, pct(a.agreement), ci(a.agreement_ci, pct),
        num3(a.kappa), ci(a.kappa_ci, num3), a.human_ties, a.no_majority] });
    }
  }
  table("agreement-table", ["source", "category", "n", "agreement", "95% CI", "kappa", "kappa 95% CI",
    "human ties", "no majority"], ag);
  const sat = [];
  for (const [pol, block] of Object.entries(res.satisfaction.by_policy)) {
    for (const [cat, s] of [...Object.entries(block.categories), ["(all)", block.overall]]) {
      sat.push({ key: pol + "/" + cat, cells: [pol, cat, s.n, s.ratings, pct(s.rate), ci(s.ci, pct)] });
    }
  }
  table("satisfaction-table", ["policy", "category", "items", "ratings", "rate", "95% CI"], sat);
  const vs = res.satisfaction.vs_baseline;
  const deltas = Object.entries(vs.policies).map(([pol, d]) => (
    { key: pol, cells: [pol, vs.baseline, d.n, pp(d.delta), ci(d.ci, pp)] }));
  table("delta-table", ["policy", "baseline", "prompts", "delta", "95% CI"], deltas);
  const inter = ["labels", "satisfaction"].map((k) => {
    const i = res[k].inter_reviewer;
    return { key: k, numFrom: 1, cells: [k, i.reviewers, i.items_multi, num3(i.fleiss_kappa), num3(i.mean_pairwise_kappa)] };
  });
  table("inter-table", ["kind", "reviewers", "items with ≥2", "Fleiss kappa", "mean pairwise kappa"], inter);
}

async function show(view) {
  state.view = view;
  for (const v of ["label", "satisfaction", "results"]) {
    $("view-" + v).hidden = v !== view;
    $("tab-" + v).classList.toggle("active", v === view);
  }
  try {
    if (view === "results") await loadResults(); else await loadNext(view);
  } catch (e) { setStatus(e.message, true); }
}

function onKey(ev) {
  const t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  if (state.view === "label") {
    const c = { a: "a", b: "b", t: "tie", s: "skip" }[key];
    if (c) { ev.preventDefault(); labelChoice(c); } else if (key === "u") { ev.preventDefault(); undo("label"); }
  } else if (state.view === "satisfaction") {
    const c = { y: "yes", n: "no", s: "skip" }[key];
    if (c) { ev.preventDefault(); satChoice(c); } else if (key === "u") { ev.preventDefault(); undo("satisfaction"); }
  }
}

function init() {
  const saved = window.localStorage.getItem("hrlaif-reviewer");
  if (saved) $("reviewer").value = saved;
  $("reviewer").addEventListener("change", () => {
    window.localStorage.setItem("hrlaif-reviewer", reviewer());
    setStatus("");
    show(state.view);
  });
  $("reviewer").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("reviewer").blur(); });
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => show(b.dataset.view));
  for (const b of document.querySelectorAll("[data-choice]")) b.addEventListener("click", () => labelChoice(b.dataset.choice));
  for (const b of document.querySelectorAll("[data-sat]")) b.addEventListener("click", () => satChoice(b.dataset.sat));
  $("label-category").addEventListener("change", () => show("label"));
  $("sat-category").addEventListener("change", () => show("satisfaction"));
  $("refresh-results").addEventListener("click", () => show("results"));
  document.addEventListener("keydown", onKey);
  show("label");
}

document.addEventListener("DOMContentLoaded", init);
