// xcache dashboard charts: GET /api/history drawn with uPlot (vendored in /ui/vendor, no CDN).
"use strict";
(function () {
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ab"];
  // id, title, kind (proxy|server), figures drawn (one line per instance and figure), unit
  const CHARTS = [
    ["ops", "proxy ops/s", "proxy", ["ops_per_s"], ""],
    ["latency", "proxy latency p50 / p99 (ms)", "proxy", ["p50_ms", "p99_ms"], "ms"],
    ["sessions", "proxy sessions", "proxy", ["sessions"], ""],
    ["queue", "accept queue vs backlog", "proxy", ["listen_queue", "listen_backlog"], ""],
    ["drops", "dead-socket drops/s", "proxy", ["drops_per_s"], ""],
    ["qps", "node QPS", "server", ["qps"], ""],
    ["memory", "node memory (MiB)", "server", ["memory_bytes"], "MiB"],
    ["keys", "node keys", "server", ["keys"], ""],
    ["lag", "replication lag (bytes)", "server", ["lag_bytes"], "B"],
    ["stall", "write stall (1 = stalling)", "server", ["write_stall"], ""],
  ];
  const plots = {};
  let busy = false;

  function box(id, title) {
    let d = document.getElementById("chart-" + id);
    if (!d) {
      d = document.createElement("div");
      d.id = "chart-" + id;
      d.className = "chart";
      d.dataset.chart = id;
      d.setAttribute("data-testid", "chart-" + id);
      const h = document.createElement("div");
      h.className = "chart-title";
      h.textContent = title;
      d.append(h);
      document.getElementById("charts").append(d);
    }
    return d;
  }

  function draw(h) {
    const t = h.t;
    document.getElementById("history-meta").textContent =
      `${t.length} samples every ${h.resolution_s}s (${Math.round((t.length * h.resolution_s) / 60)} min)`;
    for (const [id, title, kind, figures, unit] of CHARTS) {
      const names = Object.keys(h.series).filter((n) => n.startsWith(kind + "/") && figures.includes(n.split("/").pop()));
      const scale = unit === "MiB" ? 1 / 1048576 : 1;
      const data = [t, ...names.map((n) => h.series[n].map((v) => (v === null ? null : v * scale)))];
      const key = names.join("|");
      const target = box(id, title);
      const width = Math.max(280, Math.floor(target.clientWidth || 360) - 8);
      if (!plots[id] || plots[id].key !== key) {
        if (plots[id]) plots[id].plot.destroy();
        const series = [{}, ...names.map((n, i) => ({
          label: n.split("/").slice(1).join(" "), stroke: PALETTE[i % PALETTE.length], width: 1.5,
          dash: n.endsWith("backlog") || n.endsWith("p99_ms") ? [6, 3] : undefined, spanGaps: false,
        }))];
        const opts = { width, height: 170, series, legend: { show: true }, cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [{}, { size: 60 }] };
        plots[id] = { key, plot: new uPlot(opts, data, target) };
      } else {
        plots[id].plot.setData(data);
      }
    }
  }

  async function refresh(api) {
    if (busy) return;
    busy = true;
    try { draw(await api("GET", "/api/history")); } catch (e) { /* shown by the overview's error */ }
    finally { busy = false; }
  }

  window.xcacheCharts = { refresh, plots };
})();
