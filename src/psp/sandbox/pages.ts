import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { safeEqual } from "../../runtime/safeEqual.js";
import type { LedgerEntry, SandboxLedger } from "./ledger.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
.box{border:1px solid #ccc;border-radius:8px;padding:1.5rem}button{font-size:1rem;padding:.6rem 1rem;margin:.3rem .3rem 0 0;cursor:pointer}
.muted{color:#777;font-size:.9rem}</style></head>
<body><div class="box">${body}</div><p class="muted">Sandbox PSP: no real money moves.</p></body></html>`;
}

function amountText(e: LedgerEntry): string {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency: e.currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return `${(e.amount / 10 ** digits).toFixed(digits)} ${e.currency}`;
}

function form(action: string, buttons: [string, string][]): string {
  return `<form method="post" action="${escapeHtml(action)}">${buttons
    .map(([value, label]) => `<button type="submit" name="action" value="${value}">${escapeHtml(label)}</button>`)
    .join("")}</form>`;
}

async function readForm(req: Req): Promise<URLSearchParams> {
  let text = "";
  for await (const chunk of req as AsyncIterable<Buffer>) {
    text += chunk.toString("utf8");
    if (text.length > 4096) break;
  }
  return new URLSearchParams(text);
}

function send(res: Res, status: number, html: string): void {
  (res as ServerResponse).writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "x-frame-options": "DENY",
  });
  res.end(html);
}

function redirect(res: Res, location: string): void {
  (res as ServerResponse).writeHead(303, { location, "cache-control": "no-store" });
  res.end();
}

/** The shopper's choice on each page and what it does to the charge. */
const choices: Record<string, Record<string, { status: LedgerEntry["status"] | "approve"; reason?: string }>> = {
  "3ds": {
    complete: { status: "approve" },
    fail: { status: "declined", reason: "3-D Secure authentication failed" },
  },
  checkout: {
    pay: { status: "approve" },
    decline: { status: "declined", reason: "declined on the hosted payment page" },
    cancel: { status: "cancelled", reason: "cancelled by the buyer" },
  },
};

/**
 * The sandbox's hosted pages, real HTML forms: the 3-D Secure challenge and the offsite
 * checkout. A choice updates the sandbox's ledger, then the shopper goes to the return URL the
 * charge was created with (our return endpoint), as with a real PSP.
 */
export function createSandboxPages(ledger: SandboxLedger, onChargeUpdated: (entry: LedgerEntry) => void = () => {}) {
  return async function sandboxPages(req: Req, res: Res): Promise<boolean> {
    const [path = "", query = ""] = (req.url ?? "").split("?", 2);
    const m = /^\/sandbox\/(3ds|checkout)\/(ch_[0-9a-f]{24})$/.exec(path);
    if (!m || !m[1] || !m[2]) return false;
    const kind = m[1];
    const entry = await ledger.byReference(m[2]);
    // Without its page's secret a charge is not found: the answer says nothing of whether it exists.
    // A charge booked before pages had secrets opens by its reference while it awaits its shopper,
    // as that shopper's link did. Charges booked now that never awaited one have no secret either,
    // and their pages stay not found: their references are public.
    const opened =
      entry?.pageToken === undefined
        ? entry?.status === "requires_action"
        : safeEqual(Buffer.from(new URLSearchParams(query).get("t") ?? ""), Buffer.from(entry.pageToken));
    if (!entry || !opened || entry.type !== "charge" || (kind === "checkout") !== (entry.flow === "offsite")) {
      send(res, 404, page("Not found", "<h1>Payment not found</h1>"));
      return true;
    }
    if (req.method === "GET") {
      if (entry.status !== "requires_action") {
        send(
          res,
          200,
          page(
            "Done",
            `<h1>Already completed</h1><p>This payment is ${escapeHtml(entry.status)}.</p>${entry.returnUrl ? `<p><a href="${escapeHtml(entry.returnUrl)}">Back to the shop</a></p>` : ""}`,
          ),
        );
        return true;
      }
      const body =
        kind === "3ds"
          ? `<h1>3-D Secure</h1><p>Confirm the payment of <strong>${escapeHtml(amountText(entry))}</strong> with card •••• ${escapeHtml(entry.cardLast4 ?? "")}.</p>${form(
              req.url ?? "",
              [
                ["complete", "Complete authentication"],
                ["fail", "Fail authentication"],
              ],
            )}`
          : `<h1>Checkout</h1><p>Pay <strong>${escapeHtml(amountText(entry))}</strong>.</p>${form(req.url ?? "", [
              ["pay", "Pay"],
              ["decline", "Decline"],
              ["cancel", "Cancel"],
            ])}`;
      send(res, 200, page(kind === "3ds" ? "3-D Secure" : "Checkout", body));
      return true;
    }
    if (req.method !== "POST") {
      send(res, 405, page("Method not allowed", "<h1>Method not allowed</h1>"));
      return true;
    }
    const choice = choices[kind]?.[(await readForm(req)).get("action") ?? ""];
    if (!choice) {
      send(res, 400, page("Bad request", "<h1>Unknown choice</h1>"));
      return true;
    }
    // Only the first choice counts, as on a real PSP page.
    if (entry.status === "requires_action") {
      const status = choice.status === "approve" ? (entry.capture ? "captured" : "authorized") : choice.status;
      const change = {
        status,
        ...(choice.reason ? { reason: choice.reason } : {}),
        ...(status === "captured" ? { capturedAmount: entry.amount } : {}),
      } as Partial<LedgerEntry>;
      await ledger.update(entry._id, change);
      onChargeUpdated({ ...entry, ...change });
    }
    if (entry.returnUrl) redirect(res, entry.returnUrl);
    else send(res, 200, page("Done", "<h1>Done</h1>"));
    return true;
  };
}
