import type { PspAddress, PspOrder, PspOrderItem } from "../../psp/connector.js";
import { currencyExponent } from "../money.js";
import type { OrderAddress, OrderDetails } from "./types.js";

/** An order amount in minor units; undefined when absent or not a plain decimal the currency can hold. */
function minorOf(value: string, currency: string): number | undefined {
  const exponent = currencyExponent(currency);
  const m = /^(\d{1,12})(?:\.(\d+))?$/.exec(value.trim());
  if (exponent === undefined || !m) return undefined;
  const fraction = (m[2] ?? "").replace(/0+$/, "");
  if (fraction.length > exponent) return undefined;
  return Number((m[1] ?? "0") + fraction.padEnd(exponent, "0"));
}

const text = (v: string) => (v.trim() ? v.trim() : undefined);

/** Only the parts that were sent: a PSP should not receive empty strings as data. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function address(a: OrderAddress | undefined): PspAddress | undefined {
  if (!a) return undefined;
  const name = [a.givenName, a.familyName]
    .map((s) => s.trim())
    .filter(Boolean)
    .join(" ");
  const out = compact<PspAddress>({
    name: text(name),
    company: text(a.company),
    line1: text(a.line1),
    line2: text(a.line2),
    city: text(a.city),
    region: text(a.province),
    postalCode: text(a.postalCode),
    country: /^[A-Za-z]{2}$/.test(a.countryCode.trim()) ? a.countryCode.trim().toUpperCase() : undefined,
    phone: text(a.phoneNumber),
  });
  return Object.keys(out).length ? out : undefined;
}

function items(order: OrderDetails, currency: string): PspOrderItem[] {
  const out: PspOrderItem[] = [];
  for (const i of order.items) {
    const quantity = /^\d{1,6}$/.test(i.quantity.trim()) ? Number(i.quantity.trim()) : NaN;
    const unitMinor = minorOf(i.unitPrice, currency);
    // An item a PSP could not show correctly is left out (the hosted page then shows one line).
    if (!i.name.trim() || !(quantity >= 1) || unitMinor === undefined) continue;
    out.push(
      compact({
        name: i.name.trim(),
        description: text(i.description),
        sku: text(i.sku),
        imageUrl: /^https?:\/\//.test(i.imgUrl) ? i.imgUrl : undefined,
        quantity,
        unitMinor,
      }),
    );
  }
  return out;
}

/** Genstore's order details in the PSP's terms: addresses normalised, amounts in minor units. */
export function orderForPsp(order: OrderDetails, currency: string, receiptEmail: boolean): PspOrder {
  const amount = (v: string) => minorOf(v, currency) ?? 0;
  const email = /^[^@\s]+@[^@\s]+$/.test(order.email.trim()) ? order.email.trim() : undefined;
  const client = compact({
    ipAddress: text(order.client.ipAddress),
    userAgent: text(order.client.userAgent),
    acceptLanguage: text(order.client.acceptLanguage),
  });
  return compact<PspOrder>({
    email,
    phone: text(order.phoneNumber),
    billing: address(order.billingAddress),
    shipping: address(order.shippingAddress),
    client: Object.keys(client).length ? client : undefined,
    items: items(order, currency),
    shippingMinor: amount(order.shipping),
    taxMinor: amount(order.taxTotal),
    handlingMinor: amount(order.handling),
    insuranceMinor: amount(order.insurance),
    discountMinor: amount(order.discount),
    shippingDiscountMinor: amount(order.shippingDiscount),
    description: text(order.description),
    receiptEmail: receiptEmail ? email : undefined,
  });
}
