// The operator console's views, drawn in the browser from OperationsService and ShopService
// (Connect JSON over fetch, the session cookie plus the CSRF header). Text goes in with
// textContent only: nothing from the server is ever parsed as HTML.
/* global document, location, window, setTimeout, URLSearchParams */
import { drawCharts } from "./consoleCharts.js";
import { shopsView } from "./consoleShops.js";
import { app, field, h, money, paymentLink, problem, rpc, show, stateCell, states, when } from "./consoleKit.js";

function hashQuery() {
  const [, query = ""] = location.hash.split("?");
  return new URLSearchParams(query);
}

async function paymentsView() {
  const q = hashQuery();
  const form = h(
    "form",
    {
      class: "grid",
      onsubmit: (e) => (
        e.preventDefault(),
        (location.hash = `#/payments?${new URLSearchParams([...new window.FormData(form)].filter(([, v]) => v)).toString()}`)
      ),
    },
    field("f-shop", "Shop", h("input", { id: "f-shop", name: "shop", type: "text", value: q.get("shop") ?? "" })),
    field(
      "f-state",
      "State",
      h(
        "select",
        { id: "f-state", name: "state" },
        h("option", { value: "" }, "any"),
        states.map((s) => h("option", { value: s, selected: q.get("state") === s }, s)),
      ),
    ),
    field(
      "f-mode",
      "Mode",
      h(
        "select",
        { id: "f-mode", name: "mode" },
        ["", "test", "live"].map((m) => h("option", { value: m, selected: (q.get("mode") ?? "") === m }, m || "both")),
      ),
    ),
    field("f-from", "Created from", h("input", { id: "f-from", name: "from", type: "datetime-local", value: q.get("from") ?? "" })),
    field("f-to", "Created before", h("input", { id: "f-to", name: "to", type: "datetime-local", value: q.get("to") ?? "" })),
    field("f-id", "Payment id", h("input", { id: "f-id", name: "id", type: "search", value: q.get("id") ?? "" })),
    h("div", {}, h("button", { type: "submit" }, "Filter")),
  );
  const req = {
    shopId: q.get("shop") ?? "",
    states: q.get("state") ? [q.get("state")] : [],
    mode: q.get("mode") ?? "",
    paymentId: q.get("id") ?? "",
    pageSize: 50,
    pageToken: q.get("page") ?? "",
    ...(q.get("from") ? { createdAfter: new Date(q.get("from")).toISOString() } : {}),
    ...(q.get("to") ? { createdBefore: new Date(q.get("to")).toISOString() } : {}),
  };
  const res = await rpc("OperationsService", "ListPayments", req);
  const rows = (res.payments ?? []).map((p) =>
    h(
      "tr",
      {},
      h("td", {}, when(p.createTime)),
      h("td", {}, p.shopId),
      h("td", {}, paymentLink(p.shopId, p.paymentId)),
      h("td", {}, stateCell(p.state)),
      h("td", {}, money(p)),
      h("td", {}, p.test ? "test" : "live"),
      h("td", {}, p.psp),
      h("td", {}, `${p.callbacksParked || 0} parked, ${p.callbacksPending || 0} pending`),
    ),
  );
  const next = res.nextPageToken
    ? h("a", { href: `#/payments?${new URLSearchParams({ ...Object.fromEntries(q), page: res.nextPageToken })}` }, "Next page")
    : h("span", { class: "muted" }, "End of the list");
  show(
    h("h1", {}, "Payments"),
    form,
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h("caption", { class: "sr-only" }, "Payments, newest first"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Created", "Shop", "Payment", "State", "Amount", "Mode", "PSP", "Callbacks"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8 }, "No payment matches."))),
      ),
    ),
    h("p", {}, next),
  );
}

function attemptsTable(cb) {
  return h(
    "table",
    {},
    h("caption", { class: "sr-only" }, `Delivery attempts of ${cb.id}`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Time", "HTTP status", "Error", "Duration"].map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h(
      "tbody",
      {},
      (cb.attempts ?? []).map((a) =>
        h("tr", {}, h("td", {}, when(a.time)), h("td", {}, a.httpStatus || "no answer"), h("td", {}, a.error ?? ""), h("td", {}, `${a.durationMs ?? 0} ms`)),
      ),
    ),
  );
}

async function redeliver(req, after) {
  const res = await rpc("OperationsService", "RedeliverCallbacks", req);
  after(`${res.requeued ?? 0} callback(s) back in the queue.`);
}

async function paymentView(shopId, paymentId) {
  const [timeline, listed] = await Promise.all([
    rpc("OperationsService", "GetPaymentTimeline", { shopId, paymentId }),
    rpc("OperationsService", "ListPayments", { shopId, paymentId, pageSize: 1 }),
  ]);
  const p = listed.payments?.[0] ?? {};
  const note = h("p", { role: "status" });
  const callbacks = (timeline.callbacks ?? []).map((cb) =>
    h(
      "section",
      {},
      h("h3", {}, `${cb.id}: `, stateCell(cb.state)),
      cb.parkedReason ? h("p", {}, `Parked: ${cb.parkedReason}`) : null,
      attemptsTable(cb),
      cb.state === "parked"
        ? h(
            "button",
            { type: "button", onclick: () => redeliver({ shopId, paymentId, callbackId: cb.id }, (m) => ((note.textContent = m), route())) },
            `Redeliver ${cb.id}`,
          )
        : null,
    ),
  );
  show(
    h("h1", {}, `Payment ${paymentId}`),
    note,
    h(
      "dl",
      { class: "facts" },
      [
        ["Shop", shopId],
        ["State", timeline.state],
        ["Amount", money(p)],
        ["Mode", p.test ? "test" : "live"],
        ["PSP", p.psp ?? ""],
        ["PSP reference", p.channelPaymentId ?? ""],
        ["Card", p.cardBrand ? `${p.cardBrand} ending ${p.cardLast4}` : ""],
        ["Error", p.error ?? ""],
        ["Created", when(p.createTime)],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ),
    h("h2", {}, "Timeline"),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Time", "Event", "State", "Operation", "Detail", "Request"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          (timeline.events ?? []).map((e) =>
            h(
              "tr",
              {},
              h("td", {}, when(e.time)),
              h("td", {}, e.event),
              h("td", {}, e.state ?? ""),
              h("td", {}, e.operationKind ? `${e.operationKind} ${e.operationId}` : ""),
              h("td", {}, e.detail ?? ""),
              h("td", {}, e.requestId ?? ""),
            ),
          ),
        ),
      ),
    ),
    h("h2", {}, "Callbacks to Genstore"),
    callbacks.length ? callbacks : h("p", {}, "None yet."),
  );
  // While a callback is on its way, look again shortly.
  const hash = location.hash;
  if ((timeline.callbacks ?? []).some((c) => c.state === "pending")) setTimeout(() => location.hash === hash && route(), 1000);
}

async function callbacksView(message = "") {
  const res = await rpc("OperationsService", "ListParkedCallbacks", { limit: 200 });
  const note = h("p", { role: "status" }, message);
  const again = (m) => callbacksView(m).catch((err) => show(problem(err)));
  const rows = (res.callbacks ?? []).map((cb) =>
    h(
      "tr",
      {},
      h("td", {}, cb.shopId),
      h("td", {}, paymentLink(cb.shopId, cb.paymentId)),
      h("td", {}, cb.id),
      h("td", {}, cb.parkedReason ?? ""),
      h("td", {}, String((cb.attempts ?? []).length)),
      h(
        "td",
        {},
        h(
          "div",
          { class: "actions" },
          h(
            "button",
            { type: "button", onclick: () => redeliver({ shopId: cb.shopId, paymentId: cb.paymentId, callbackId: cb.id }, again) },
            `Redeliver ${cb.id}`,
          ),
          h(
            "button",
            { type: "button", class: "secondary", onclick: () => redeliver({ shopId: cb.shopId, paymentId: cb.paymentId }, again) },
            "All of this payment",
          ),
        ),
      ),
    ),
  );
  show(
    h("h1", {}, "Parked callbacks"),
    note,
    h("div", { class: "actions" }, h("button", { type: "button", disabled: !rows.length, onclick: () => redeliver({}, again) }, "Redeliver all")),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Shop", "Payment", "Callback", "Why parked", "Attempts", "Actions"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6 }, "No parked callback."))),
      ),
    ),
  );
}

async function route() {
  const [path] = location.hash.slice(1).split("?");
  const parts = (path || "/payments").split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "payment" && parts.length === 3) await paymentView(parts[1], parts[2]);
    else if (parts[0] === "callbacks") await callbacksView();
    else if (parts[0] === "shops") await shopsView(parts[1], parts[2]);
    else if (parts[0] === "charts") await drawCharts();
    else await paymentsView();
    document.title = `${app.querySelector("h1")?.textContent ?? "Console"}: operator console`;
  } catch (err) {
    show(h("h1", {}, "Something went wrong"), problem(err));
  }
}

window.addEventListener("hashchange", () => void route());
void route();
