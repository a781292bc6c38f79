/**
 * What the activity page needs beyond the UI's own stylesheet and script: uPlot (served
 * from this gateway at `/ui/assets/uplot.js`, never a CDN), its stylesheet (inline, by
 * hash) and the small script that draws the charts from the summary embedded in the page.
 *
 * uPlot is read from the installed package on first use (no I/O at import). The page's
 * CSP names uPlot twice: by its SHA-384 with the tag's `integrity` (CSP Level 3 external
 * hashes) and by its exact URL (a path-restricted host-source, for browsers without
 * them); never `'self'`, which would also trust what upstreams answer on this origin.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { inlineHash, uiContentSecurityPolicy } from "./assets.js";

export const UPLOT_PATH = "/ui/assets/uplot.js";

export interface UplotAssets {
  script: string;
  css: string;
  /** `sha384-...`, for the tag's `integrity` and the CSP. */
  integrity: string;
  version: string;
}

let loaded: UplotAssets | undefined;

export function uplotAssets(): UplotAssets {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  const script = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
  const css = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  const { version } = JSON.parse(readFileSync(require.resolve("uplot/package.json"), "utf8")) as { version: string };
  loaded = { script, css, integrity: `sha384-${createHash("sha384").update(script, "utf8").digest("base64")}`, version };
  return loaded;
}

export const ACTIVITY_JS = `
"use strict";
// Draws the activity charts from the summary in #activity-data (what /v1/mcp/activity/summary answers).
(function () {
  var data = document.getElementById("activity-data");
  if (!data || typeof uPlot === "undefined") return;
  var summary = JSON.parse(data.textContent);
  var xs = summary.buckets.map(function (b) { return Date.parse(b.start) / 1000; });
  function column(name, scale) {
    return summary.buckets.map(function (b) { var v = b[name]; return v === null ? null : v * (scale || 1); });
  }
  var charts = [
    { id: "chart-calls", series: [{ label: "calls / min", stroke: "#2457c5", fill: "rgba(36,87,197,.12)", values: column("callsPerMinute") }] },
    { id: "chart-errors", series: [{ label: "error rate %", stroke: "#b3261e", fill: "rgba(179,38,30,.10)", points: true, values: column("errorRate", 100) }] },
    { id: "chart-latency", series: [
      { label: "p50 ms", stroke: "#1e7b34", points: true, values: column("p50Ms") },
      { label: "p95 ms", stroke: "#8a5a00", points: true, values: column("p95Ms") }
    ] }
  ];
  var plots = [];
  charts.forEach(function (chart) {
    var el = document.getElementById(chart.id);
    if (!el) return;
    var options = {
      width: el.clientWidth,
      height: 180,
      series: [{}].concat(chart.series.map(function (s) { // Buckets without calls have no error rate or latency: their points show where the lines break.
      return { label: s.label, stroke: s.stroke, fill: s.fill, width: 2, points: s.points ? { show: true, size: 5 } : { size: 4 } }; })),
      scales: { y: { range: function (u, min, max) { return [0, Math.max((max || 0) * 1.15, 1)]; } } },
      axes: [{}, { size: 48 }]
    };
    var plot = new uPlot(options, [xs].concat(chart.series.map(function (s) { return s.values; })), el);
    el.setAttribute("data-drawn", "true");
    plots.push({ plot: plot, el: el });
  });
  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      plots.forEach(function (p) { p.plot.setSize({ width: p.el.clientWidth, height: 180 }); });
    }, 100);
  });
})();
`;

/** The activity page's CSP: the UI's, plus the chart script, uPlot (by hash and by its URL on `origin`) and uPlot's stylesheet. */
export function activityContentSecurityPolicy(origin: string): string {
  const uplot = uplotAssets();
  // An origin that is not plain scheme://host[:port] (a strange Host header) must not write into the policy.
  const byUrl = /^https?:\/\/[A-Za-z0-9.\-[\]:]+$/.test(origin) ? [`${origin}${UPLOT_PATH}`] : [];
  return uiContentSecurityPolicy({
    scripts: [inlineHash(ACTIVITY_JS), `'${uplot.integrity}'`, ...byUrl],
    styles: [inlineHash(uplot.css)],
  });
}
