// Small helpers shared by the console's views: elements, Connect calls, formatting.
/* global document, location, fetch, window */
export const app = document.getElementById("app");
export const csrf = app.dataset.csrf;
export const psps = JSON.parse(app.dataset.psps);
export const states = [
  "received",
  "requires_action",
  "pending",
  "authorized",
  "captured",
  "partially_refunded",
  "refunded",
  "voided",
  "declined",
  "failed",
  "unknown",
];

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null) el.append(c instanceof window.Node ? c : String(c));
  return el;
}

export async function rpc(service, method, body) {
  const res = await fetch(`/genstore.payment.v1.${service}/${method}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", "x-csrf-token": csrf },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) location.assign("/console");
  if (!res.ok) throw new Error(data.message || `HTTP ${res.status}`);
  return data;
}

export const when = (t) => (t ? new Date(t).toLocaleString("en-GB", { hour12: false }) : "");
export const money = (p) => `${(Number(p.amountMinor || 0) / 100).toFixed(2)} ${p.currency || ""}`;
export const stateCell = (s) => h("span", { class: `state-${s}` }, s);
export const paymentLink = (shopId, paymentId) => h("a", { href: `#/payment/${encodeURIComponent(shopId)}/${encodeURIComponent(paymentId)}` }, paymentId);
export const field = (id, label, input) => h("div", {}, h("label", { for: id }, label), input);
export const show = (...nodes) => app.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined));
export const problem = (err) => h("div", { class: "banner bad", role: "alert" }, err.message);
