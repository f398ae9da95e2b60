// Charts of the last hours from GetPaymentStats: payments per minute by outcome, PSP latency and
// callback delivery lag. Plain SVG drawn with DOM calls; each chart has a text summary too.
/* global document, location, window, URLSearchParams */
import { field, h, rpc, show } from "./consoleKit.js";

const SVG = "http://www.w3.org/2000/svg";
const colors = { succeeded: "#17693a", declined: "#a4262c", failed: "#d97706", pending: "#6b7280", p50: "#1f5fbf", p95: "#7c3aed" };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

function frame(title, max, unit, buckets) {
  const W = 600;
  const H = 180;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H + 24}`, role: "img", "aria-label": title });
  root.append(
    svg("line", { x1: 40, y1: H, x2: W, y2: H, stroke: "#999" }),
    svg("text", { x: 0, y: 12, "font-size": 11 }, `${max}${unit}`),
    svg("text", { x: 0, y: H, "font-size": 11 }, `0`),
  );
  const first = buckets[0]?.startTime;
  const last = buckets[buckets.length - 1]?.startTime;
  const label = (t) => (t ? new Date(t).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" }) : "");
  root.append(svg("text", { x: 40, y: H + 18, "font-size": 11 }, label(first)), svg("text", { x: W - 40, y: H + 18, "font-size": 11 }, label(last)));
  return {
    root,
    x: (i) => 40 + ((W - 40) * i) / Math.max(1, buckets.length),
    w: (W - 40) / Math.max(1, buckets.length),
    y: (v) => H - (H - 10) * (max ? v / max : 0),
  };
}

function bars(buckets) {
  const keys = ["succeeded", "declined", "failed", "pending"];
  const max = Math.max(1, ...buckets.map((b) => keys.reduce((s, k) => s + (b[k] ?? 0), 0)));
  const f = frame("Payments per minute by outcome", max, "", buckets);
  buckets.forEach((b, i) => {
    let base = 0;
    for (const k of keys) {
      const v = b[k] ?? 0;
      if (!v) continue;
      f.root.append(svg("rect", { x: f.x(i), y: f.y(base + v), width: Math.max(1, f.w - 0.5), height: f.y(base) - f.y(base + v), fill: colors[k] }));
      base += v;
    }
  });
  const totals = Object.fromEntries(keys.map((k) => [k, buckets.reduce((s, b) => s + (b[k] ?? 0), 0)]));
  return chart(
    "Payments per minute",
    f.root,
    keys.map((k) => [k, `${k} ${totals[k]}`]),
  );
}

function lines(title, p50Key, p95Key, buckets) {
  const max = Math.max(1, ...buckets.map((b) => b[p95Key] ?? 0));
  const f = frame(title, max, " ms", buckets);
  for (const [key, color] of [
    [p50Key, colors.p50],
    [p95Key, colors.p95],
  ]) {
    const points = buckets
      .map((b, i) => [i, b[key] ?? 0])
      .filter(([, v]) => v > 0)
      .map(([i, v]) => `${f.x(i) + f.w / 2},${f.y(v)}`);
    if (points.length) f.root.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
    for (const p of points) f.root.append(svg("circle", { cx: p.split(",")[0], cy: p.split(",")[1], r: 3, fill: color }));
  }
  const worst = Math.max(0, ...buckets.map((b) => b[p95Key] ?? 0));
  return chart(title, f.root, [
    ["p50", "p50"],
    ["p95", `p95 (worst minute ${worst} ms)`],
  ]);
}

function chart(title, root, legend) {
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", {}, h("strong", {}, title)),
    root,
    h(
      "p",
      { class: "legend" },
      legend.map(([k, text]) => h("span", { style: undefined }, h("span", { "aria-hidden": "true", class: `swatch swatch-${k}` }, "■ "), text)),
    ),
  );
}

export async function drawCharts() {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const minutes = Number(params.get("minutes") ?? 180);
  const form = h(
    "form",
    { class: "grid", onsubmit: (e) => (e.preventDefault(), (location.hash = `#/charts?${new URLSearchParams(new window.FormData(form)).toString()}`)) },
    field("c-shop", "Shop (empty: all)", h("input", { id: "c-shop", name: "shop", type: "text", value: params.get("shop") ?? "" })),
    field("c-min", "Last minutes", h("input", { id: "c-min", name: "minutes", type: "text", inputmode: "numeric", value: String(minutes) })),
    h("div", {}, h("button", { type: "submit" }, "Show")),
  );
  const res = await rpc("OperationsService", "GetPaymentStats", { shopId: params.get("shop") ?? "", minutes });
  const buckets = res.buckets ?? [];
  show(
    h("h1", {}, "Charts"),
    form,
    h(
      "div",
      { class: "charts" },
      bars(buckets),
      lines("PSP latency", "pspLatencyMsP50", "pspLatencyMsP95", buckets),
      lines("Callback delivery lag", "callbackLagMsP50", "callbackLagMsP95", buckets),
    ),
  );
}
