// The HTML status page served at "/" on status listeners: one document with
// its CSS and script inline (no external asset, nothing fetched but
// status.json). It polls status.json every second and draws requests/s and
// latency (p50 and p99 of the last interval, from the histogram buckets'
// differences) on two <canvas> charts. Every number it shows sits in an
// element with an id (tests read them back): version, pid, uptime,
// connections, total-requests, total-in-flight, total-1xx ... total-5xx,
// total-slow, total-p50, total-p99, rps, polls; per project
// "project-requests-NAME", "project-in-flight-NAME", "project-5xx-NAME",
// "project-slow-NAME"; per listener "listener-requests-NAME" and
// "listener-connections-NAME". Names from the server are only ever put in
// with textContent, never as markup.
#pragma once

#include <string_view>

namespace gw {

inline constexpr std::string_view kStatusPageHtml = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gatewayd status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
.facts span { margin-right: 18px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { border: 1px solid #ccc; padding: 6px; }
.chart .label { font-size: 12px; color: #555; }
canvas { display: block; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
#error { color: #b00; }
</style>
</head>
<body>
<h1>gatewayd <span id="version">-</span></h1>
<div class="facts">
<span>pid <b id="pid">-</b></span>
<span>up <b id="uptime">-</b> s</span>
<span>connections <b id="connections">-</b></span>
<span>requests <b id="total-requests">-</b></span>
<span>in flight <b id="total-in-flight">-</b></span>
<span>slow <b id="total-slow">-</b></span>
<span>polls <b id="polls">0</b></span>
<span id="error"></span>
</div>
<div class="facts">
<span>1xx <b id="total-1xx">-</b></span>
<span>2xx <b id="total-2xx">-</b></span>
<span>3xx <b id="total-3xx">-</b></span>
<span>4xx <b id="total-4xx">-</b></span>
<span>5xx <b id="total-5xx">-</b></span>
<span>p50 <b id="total-p50">-</b> ms</span>
<span>p99 <b id="total-p99">-</b> ms</span>
</div>
<div class="charts">
<div class="chart"><div class="label">requests/s: <b id="rps">-</b></div>
<canvas id="chart-rps" width="480" height="140"></canvas></div>
<div class="chart"><div class="label">latency ms (p50 blue, p99 red): <b id="latency">-</b></div>
<canvas id="chart-latency" width="480" height="140"></canvas></div>
</div>
<h2>Projects</h2>
<table><thead><tr><th>project</th><th>backend</th><th>requests</th><th>in flight</th>
<th>2xx</th><th>4xx</th><th>5xx</th><th>slow</th><th>p50 ms</th><th>p99 ms</th>
<th>processes</th></tr></thead><tbody id="projects"></tbody></table>
<h2>Listeners</h2>
<table><thead><tr><th>listener</th><th>protocol</th><th>connections</th><th>requests</th>
<th>in flight</th></tr></thead><tbody id="listeners"></tbody></table>
<script>
"use strict";
const HISTORY = 120;
const series = { t: [], rps: [], p50: [], p99: [] };
let previous = null;
let polls = 0;

function set(id, value) {
  const e = document.getElementById(id);
  if (e) e.textContent = String(value);
}

function percentile(buckets, bounds, q) {
  let total = 0;
  for (const b of buckets) total += b;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i];
    if (b > 0 && below + b >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lo = i === 0 ? 0 : bounds[i - 1];
      return lo + (bounds[i] - lo) * (rank - below) / b;
    }
    below += b;
  }
  return bounds[bounds.length - 1];
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = String(text);
  row.appendChild(td);
  return td;
}

function table(id, items, columns) {
  const body = document.getElementById(id);
  body.textContent = "";
  for (const item of items) {
    const row = document.createElement("tr");
    for (const [key, value] of columns) {
      const td = cell(row, value(item));
      if (key) td.id = key + "-" + item.name;
    }
    body.appendChild(row);
  }
}

function draw(id, lines, unit) {
  const canvas = document.getElementById(id);
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 44, bottom = 16;
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, w, h);
  let max = 0;
  for (const l of lines) for (const v of l.values) if (v !== null && v > max) max = v;
  max = max > 0 ? max * 1.2 : 1;
  g.strokeStyle = "#dddddd";
  g.lineWidth = 1;
  g.fillStyle = "#666666";
  g.font = "10px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = Math.round(4 + (h - bottom - 4) * i / 4) + 0.5;
    g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
    g.fillText((max * (4 - i) / 4).toFixed(max < 10 ? 1 : 0), 2, y + 3);
  }
  g.fillText(unit, left, h - 3);
  const step = (w - left) / (HISTORY - 1);
  for (const l of lines) {
    g.strokeStyle = l.color;
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    const start = HISTORY - l.values.length;
    l.values.forEach((v, i) => {
      if (v === null) return;
      const x = left + (start + i) * step;
      const y = 4 + (h - bottom - 4) * (1 - v / max);
      if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
    });
    g.stroke();
    // Every sample also as a dot: an interval with no request (null) is a
    // gap in the line, and a sample between two gaps must still show.
    g.fillStyle = l.color;
    l.values.forEach((v, i) => {
      if (v === null) return;
      const x = left + (start + i) * step;
      const y = 4 + (h - bottom - 4) * (1 - v / max);
      g.fillRect(Math.round(x) - 3, Math.round(y) - 3, 6, 6);
    });
  }
}

function update(s) {
  polls++;
  set("polls", polls);
  set("version", s.version);
  set("pid", s.pid);
  set("uptime", s.uptime_seconds);
  set("connections", s.connections);
  const t = s.total;
  set("total-requests", t.requests);
  set("total-in-flight", t.in_flight);
  set("total-slow", t.slow);
  for (const c of ["1xx", "2xx", "3xx", "4xx", "5xx"]) set("total-" + c, t.status[c]);
  set("total-p50", t.latency_ms.p50);
  set("total-p99", t.latency_ms.p99);
  const now = Date.now();
  let rps = 0, p50 = null, p99 = null;
  if (previous) {
    const dt = Math.max((now - previous.at) / 1000, 0.001);
    rps = Math.max(t.requests - previous.total.requests, 0) / dt;
    const diff = t.latency_ms.buckets.map((b, i) => b - previous.total.latency_ms.buckets[i]);
    p50 = percentile(diff, s.bucket_bounds_ms, 0.5);
    p99 = percentile(diff, s.bucket_bounds_ms, 0.99);
  }
  previous = { at: now, total: t };
  series.rps.push(rps); series.p50.push(p50); series.p99.push(p99);
  for (const k of ["rps", "p50", "p99"]) if (series[k].length > HISTORY) series[k].shift();
  set("rps", rps.toFixed(1));
  set("latency", p50 === null ? "-" : p50.toFixed(1) + " / " + p99.toFixed(1));
  draw("chart-rps", [{ values: series.rps, color: "#1f77b4" }], "req/s");
  draw("chart-latency", [{ values: series.p50, color: "#1f77b4" },
                         { values: series.p99, color: "#d62728" }], "ms");
  table("projects", s.projects, [
    ["", p => p.name], ["", p => p.backend || "-"],
    ["project-requests", p => p.requests], ["project-in-flight", p => p.in_flight],
    ["project-2xx", p => p.status["2xx"]], ["project-4xx", p => p.status["4xx"]],
    ["project-5xx", p => p.status["5xx"]], ["project-slow", p => p.slow],
    ["", p => p.latency_ms.p50], ["", p => p.latency_ms.p99],
    ["", p => p.processes.map(x => x.pid + " " + x.state + " " + x.requests + "r " +
                                   x.restarts + "x").join(", ") || "-"]]);
  table("listeners", s.listeners, [
    ["", l => l.name], ["", l => l.protocol + (l.status_listener ? " (status)" : "")],
    ["listener-connections", l => l.connections === null ? "-" : l.connections],
    ["listener-requests", l => l.requests], ["listener-in-flight", l => l.in_flight]]);
}

async function poll() {
  try {
    const response = await fetch("status.json", { cache: "no-store" });
    if (!response.ok) throw new Error("status.json: " + response.status);
    update(await response.json());
    set("error", "");
  } catch (e) {
    set("error", String(e));
  }
}

poll();
setInterval(poll, 1000);
</script>
</body>
</html>
)HTML";

}  // namespace gw
