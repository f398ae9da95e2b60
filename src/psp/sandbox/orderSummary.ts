import type { PspOrder } from "../connector.js";
import type { OrderSummary } from "./ledger.js";

/** Which of the buyer's details a PSP was given, by name, and the order's items: nothing personal is kept. */
export function orderSummary(order: PspOrder): OrderSummary {
  const fields: string[] = [];
  const note = (prefix: string, o: object | undefined) => {
    for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined && v !== "") fields.push(prefix + k);
  };
  note("", { email: order.email, phone: order.phone, receiptEmail: order.receiptEmail });
  note("billing.", order.billing);
  note("shipping.", order.shipping);
  note("client.", order.client);
  return {
    items: order.items.map((i) => ({ name: i.name, quantity: i.quantity, unitMinor: i.unitMinor })),
    fields: fields.sort(),
    ...(order.billing?.country ? { billingCountry: order.billing.country } : {}),
    ...(order.shipping?.country ? { shippingCountry: order.shipping.country } : {}),
  };
}
