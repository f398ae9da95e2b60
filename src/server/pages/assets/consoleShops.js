// Shops: list, create, edit. Credentials are write-only: the form never shows a stored value,
// only which names are set; a mode's values replace that mode's credentials when any is entered.
/* global location, window */
import { field, h, problem, psps, rpc, show, when } from "./consoleKit.js";

function credentialInputs(psp, mode, setNames) {
  const spec = psps.find((p) => p.name === psp) ?? { fields: [] };
  return h(
    "fieldset",
    {},
    h("legend", {}, `${mode === "test" ? "Test" : "Live"} credentials`),
    spec.fields.map((f) => {
      const id = `s-${mode}-${f.name}`;
      return field(
        id,
        `${f.label}${setNames.includes(f.name) ? " (set; empty keeps it)" : ""}`,
        h("input", { id, name: `${mode}.${f.name}`, type: f.secret ? "password" : "text", autocomplete: "off" }),
      );
    }),
  );
}

function credentialsOf(data, mode) {
  const values = {};
  for (const [k, v] of data) if (k.startsWith(`${mode}.`) && v) values[k.slice(mode.length + 1)] = v;
  return Object.keys(values).length ? { values } : undefined;
}

async function shopForm(shopId) {
  const shop = shopId ? (await rpc("ShopService", "GetShop", { shopId })).shop : undefined;
  const note = h("div", { role: "status" });
  const creds = h("div", {});
  const pspSelect = h(
    "select",
    { id: "s-psp", name: "psp", onchange: () => drawCreds() },
    psps.map((p) => h("option", { value: p.name, selected: p.name === (shop?.psp ?? "sandbox") }, p.name)),
  );
  const drawCreds = () =>
    creds.replaceChildren(
      credentialInputs(pspSelect.value, "test", pspSelect.value === shop?.psp ? (shop?.testCredentialNames ?? []) : []),
      credentialInputs(pspSelect.value, "live", pspSelect.value === shop?.psp ? (shop?.liveCredentialNames ?? []) : []),
    );
  drawCreds();
  const form = h(
    "form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const data = [...new window.FormData(form)];
        const get = (k) => data.find(([n]) => n === k)?.[1] ?? "";
        const settings = {
          psp: get("psp"),
          callbackBaseUrl: get("callbackBaseUrl") || undefined,
          manualCaptureMeansAuthorizeOnly: get("manualCapture") === "on",
          testCredentials: credentialsOf(data, "test"),
          liveCredentials: credentialsOf(data, "live"),
        };
        try {
          if (shop) await rpc("ShopService", "UpdateShop", { shopId: shop.shopId, settings });
          else await rpc("ShopService", "CreateShop", { shopId: get("shopId"), settings });
          location.hash = "#/shops";
        } catch (err) {
          note.replaceChildren(problem(err));
        }
      },
    },
    field("s-id", "Shop id", h("input", { id: "s-id", name: "shopId", type: "text", required: true, value: shop?.shopId ?? "", readonly: Boolean(shop) })),
    field("s-psp", "Payment provider", pspSelect),
    field(
      "s-base",
      "Genstore API base URL (empty: https://{shop}.genmystore.com)",
      h("input", { id: "s-base", name: "callbackBaseUrl", type: "text", value: shop?.callbackBaseUrl ?? "" }),
    ),
    h(
      "label",
      { class: "choice", for: "s-mc" },
      h("input", { id: "s-mc", name: "manualCapture", type: "checkbox", checked: shop ? shop.manualCaptureMeansAuthorizeOnly : true }),
      "manualCapture=true means authorize only",
    ),
    creds,
    h("button", { type: "submit" }, shop ? "Save shop" : "Create shop"),
  );
  show(h("h1", {}, shop ? `Edit shop ${shop.shopId}` : "New shop"), note, form);
}

async function shopList() {
  const res = await rpc("ShopService", "ListShops", { pageSize: 200 });
  const rows = (res.shops ?? []).map((s) =>
    h(
      "tr",
      {},
      h("td", {}, s.shopId),
      h("td", {}, s.shopDomain ?? ""),
      h("td", {}, s.psp),
      h("td", {}, (s.testCredentialNames ?? []).join(", ") || "none"),
      h("td", {}, (s.liveCredentialNames ?? []).join(", ") || "none"),
      h("td", {}, s.hasGenstoreAccessToken ? "set" : "none"),
      h("td", {}, s.deactivateTime ? `deactivated ${when(s.deactivateTime)}` : "active"),
      h("td", {}, h("a", { href: `#/shops/edit/${encodeURIComponent(s.shopId)}` }, `Edit ${s.shopId}`)),
    ),
  );
  show(
    h("h1", {}, "Shops"),
    h("p", {}, h("a", { href: "#/shops/new" }, "New shop")),
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
            ["Shop", "Domain", "PSP", "Test credentials", "Live credentials", "Genstore token", "Status", ""].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8 }, "No shop stored."))),
      ),
    ),
  );
}

export function shopsView(action, shopId) {
  if (action === "new") return shopForm(undefined);
  if (action === "edit" && shopId) return shopForm(shopId);
  return shopList();
}
