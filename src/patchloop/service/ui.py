"""The web UI at ``/``: one page over the same API (runs, live progress, the diff, attempts,
SLOs). The page holds no data of its own; it asks for an API key and keeps it in the browser's
local storage. Events arrive over the SSE endpoint, read with ``fetch`` so the key travels in
the ``Authorization`` header, never in a URL.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>patchloop</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 8px 16px; display: flex; gap: 16px;
         align-items: center; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header .grow { flex: 1; }
main { padding: 16px; max-width: 1100px; margin: auto; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px;
          margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaeef2;
         vertical-align: top; }
tr.run { cursor: pointer; } tr.run:hover { background: #f6f8fa; }
.badge { padding: 1px 8px; border-radius: 10px; background: #eaeef2; }
.verified, .passed, .succeeded { background: #dafbe1; color: #116329; }
.not_fixed, .failed, .error, .rejected { background: #ffebe9; color: #a40e26; }
.running, .queued { background: #fff8c5; color: #7d4e00; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; margin: 0; }
pre.diff .add { color: #116329; background: #e6ffec; display: block; }
pre.diff .del { color: #a40e26; background: #ffebe9; display: block; }
pre.diff .hunk { color: #0550ae; display: block; }
pre.diff .file { font-weight: 700; display: block; }
#events { max-height: 240px; overflow-y: auto; font: 12px monospace; }
input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: 4px; }
label { display: block; margin-top: 8px; }
.error-text { color: #a40e26; }
</style>
</head>
<body>
<header>
  <a href="#/runs" id="nav-runs">patchloop</a>
  <a href="#/slo" id="nav-slo">SLO</a>
  <span class="grow"></span>
  <input type="password" id="key" placeholder="API key" style="width: 280px">
  <button id="save-key">Use key</button>
</header>
<main>
  <div id="message" class="error-text"></div>
  <div id="page-runs">
    <section>
      <h3>New repair</h3>
      <label>Repository path on the server <input type="text" id="repo"></label>
      <label>Task (optional) <input type="text" id="task"></label>
      <label>Failing tests (optional, comma separated) <input type="text" id="tests"></label>
      <p><button id="submit">Repair</button></p>
    </section>
    <section>
      <h3>Runs</h3>
      <table id="runs"><thead><tr><th>id</th><th>kind</th><th>status</th><th>verdict</th>
        <th>repository</th><th>created</th></tr></thead><tbody></tbody></table>
    </section>
  </div>
  <div id="page-run" hidden>
    <section>
      <h3>Run <span id="run-id"></span></h3>
      <p>status <span id="run-status" class="badge"></span>
         verdict <span id="run-verdict" class="badge"></span>
         <span id="run-facts"></span>
         <button id="cancel">Cancel</button></p>
      <div id="events"></div>
    </section>
    <section><h3>Diff</h3><pre id="diff" class="diff"></pre></section>
    <section><h3>Attempts</h3>
      <table id="attempts"><thead><tr><th>#</th><th>tier</th><th>status</th><th>change</th>
        <th>feedback</th></tr></thead><tbody></tbody></table>
    </section>
  </div>
  <div id="page-slo" hidden>
    <section><h3>Service-level objectives</h3>
      <table id="slo"><thead><tr><th>objective</th><th>target</th><th>current</th>
        <th>events</th><th>bad</th><th>budget left</th><th>met</th></tr></thead>
        <tbody></tbody></table>
    </section>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let key = localStorage.getItem("patchloop-key") || "";
let stream = null;
let refresh = null;
$("key").value = key;

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value === null || value === undefined ? "" : String(value);
  if (cls) el.className = cls;
  return el;
}

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const hint = data.hint ? " (" + data.hint + ")" : "";
    throw new Error((data.error || response.statusText) + hint);
  }
  return data;
}

function show(page) {
  for (const name of ["runs", "run", "slo"]) $("page-" + name).hidden = name !== page;
  $("message").textContent = "";
  if (stream) { stream.abort(); stream = null; }
  if (refresh) { clearInterval(refresh); refresh = null; }
}

function fail(error) { $("message").textContent = error.message; }

async function loadRuns() {
  const data = await api("GET", "/v1/runs?limit=50");
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  for (const run of data.runs) {
    const row = document.createElement("tr");
    row.className = "run";
    row.dataset.id = run.id;
    row.append(text("td", run.id), text("td", run.kind), text("td", run.status),
               text("td", run.verdict), text("td", run.repository),
               text("td", new Date(run.created_at * 1000).toLocaleString()));
    row.addEventListener("click", () => { location.hash = "#/runs/" + run.id; });
    body.append(row);
  }
}

function renderDiff(diff) {
  const pre = $("diff");
  pre.replaceChildren();
  for (const line of diff.split("\\n")) {
    let cls = "";
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")) cls = "file";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    const span = text("span", line, cls);
    pre.append(span);
    if (!cls) pre.append("\\n");
  }
}

function renderRun(run) {
  $("run-id").textContent = run.id;
  $("run-status").textContent = run.status;
  $("run-status").className = "badge " + run.status;
  $("run-verdict").textContent = run.verdict || "-";
  $("run-verdict").className = "badge " + (run.verdict || "");
  $("run-facts").textContent = run.finished_at
    ? ` ${run.wall_s.toFixed(1)}s, ${run.sandbox_s.toFixed(1)}s in the sandbox, ` +
      `${run.usage.prompt_tokens + run.usage.completion_tokens} tokens, retries ${run.retries}`
    : "";
  $("cancel").hidden = run.status !== "queued" && run.status !== "running";
  renderDiff(run.diff || "");
  const body = $("attempts").tBodies[0];
  body.replaceChildren();
  for (const attempt of (run.record && run.record.attempts) || []) {
    const row = document.createElement("tr");
    const feedback = text("td", "");
    const said = attempt.feedback && attempt.feedback.text;
    if (said) feedback.append(text("pre", said));
    row.append(text("td", attempt.index), text("td", attempt.tier),
               text("td", attempt.status, "badge " + attempt.status),
               text("td", attempt.label || attempt.paths.join(", ")), feedback);
    body.append(row);
  }
}

async function follow(id) {
  const log = $("events");
  log.replaceChildren();
  renderRun(await api("GET", "/v1/repairs/" + id));
  const controller = new AbortController();
  stream = controller;
  let last = 0;
  while (!controller.signal.aborted) {
    let ended = false;
    try {
      const response = await fetch("/v1/repairs/" + id + "/events", {
        headers: { "Authorization": "Bearer " + key, "Last-Event-ID": String(last) },
        signal: controller.signal });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\\n\\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\\n").filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6)).join("\\n");
          if (!data) continue;
          const event = JSON.parse(data);
          last = event.id;
          const line = text("div", `${event.kind}: ${event.message}`);
          line.className = "event";
          log.append(line);
          log.scrollTop = log.scrollHeight;
          if (event.kind === "job.end" || event.kind === "job.pruned") ended = true;
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    if (ended) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (!controller.signal.aborted) renderRun(await api("GET", "/v1/repairs/" + id));
}

async function loadSlo() {
  const data = await api("GET", "/v1/slo");
  const body = $("slo").tBodies[0];
  body.replaceChildren();
  for (const o of data.objectives) {
    const row = document.createElement("tr");
    row.dataset.name = o.name;
    const pct = (v) => (v === null ? "-" : (100 * v).toFixed(1) + "%");
    row.append(text("td", o.description), text("td", pct(o.target)), text("td", pct(o.current)),
               text("td", o.events), text("td", o.bad), text("td", pct(o.budget_remaining)),
               text("td", o.met ? "yes" : "no", "badge " + (o.met ? "verified" : "failed")));
    body.append(row);
  }
}

async function route() {
  const hash = location.hash || "#/runs";
  try {
    if (hash.startsWith("#/runs/")) { show("run"); await follow(hash.slice(7)); }
    else if (hash === "#/slo") { show("slo"); await loadSlo(); }
    else {
      show("runs");
      await loadRuns();
      refresh = setInterval(() => loadRuns().catch(fail), 2000);
    }
  } catch (error) { fail(error); }
}

$("save-key").addEventListener("click", () => {
  key = $("key").value.trim();
  localStorage.setItem("patchloop-key", key);
  route();
});
$("submit").addEventListener("click", async () => {
  const tests = $("tests").value.split(",").map((t) => t.trim()).filter(Boolean);
  try {
    const job = await api("POST", "/v1/repairs", {
      repository: { path: $("repo").value.trim() }, task: $("task").value, tests });
    location.hash = "#/runs/" + job.id;
  } catch (error) { fail(error); }
});
$("cancel").addEventListener("click", async () => {
  try { renderRun(await api("DELETE", "/v1/repairs/" + $("run-id").textContent)); }
  catch (error) { fail(error); }
});
window.addEventListener("hashchange", route);
route();
</script>
</body>
</html>
"""
