import type Stripe from "stripe";
import type { CardDetails } from "../../crypto/cardData.js";
import type { PspAddress, PspAmount, PspOrder } from "../connector.js";
import { StripeAmountError, toStripeAmount } from "./amounts.js";

// Genstore's order in Stripe's shapes. Stripe takes the buyer's IP address and user agent only in
// mandate_data (payment methods that need a mandate), which card payments do not use: not sent.

function stripeAddress(a: PspAddress): Stripe.AddressParam {
  const out: Stripe.AddressParam = {};
  if (a.line1) out.line1 = a.line1;
  if (a.line2) out.line2 = a.line2;
  if (a.city) out.city = a.city;
  if (a.region) out.state = a.region;
  if (a.postalCode) out.postal_code = a.postalCode;
  if (a.country) out.country = a.country;
  return out;
}

/** The PaymentMethod's billing details: the cardholder, and the order's billing address, e-mail and phone. */
export function billingDetails(card: CardDetails, order: PspOrder | undefined): Stripe.PaymentMethodCreateParams.BillingDetails | undefined {
  const billing = order?.billing;
  const details: Stripe.PaymentMethodCreateParams.BillingDetails = {};
  const name = card.holderName || billing?.name;
  if (name) details.name = name;
  if (order?.email) details.email = order.email;
  const phone = billing?.phone ?? order?.phone;
  if (phone) details.phone = phone;
  if (billing && Object.keys(stripeAddress(billing)).length) details.address = stripeAddress(billing);
  return Object.keys(details).length ? details : undefined;
}

/** The PaymentIntent's shipping, when Genstore sent a name and a street (Stripe requires both). */
export function shippingOf(order: PspOrder | undefined): { name: string; phone?: string; address: Stripe.AddressParam & { line1: string } } | undefined {
  const s = order?.shipping;
  if (!s?.name || !s.line1) return undefined;
  return { name: s.name, address: { ...stripeAddress(s), line1: s.line1 }, ...(s.phone ? { phone: s.phone } : {}) };
}

type LineItem = Stripe.Checkout.SessionCreateParams.LineItem;

const line = (name: string, unitMinor: number, quantity: number, currency: string, extra: { description?: string; images?: string[] } = {}): LineItem => {
  const money = toStripeAmount({ minor: unitMinor, currency });
  return { quantity, price_data: { currency: money.currency, unit_amount: money.amount, product_data: { name, ...extra } } };
};

/** The order's items and charges as positive lines, or undefined when there are none or a discount applies. */
function orderLines(order: PspOrder, currency: string): { lines: LineItem[]; minor: number } | undefined {
  if (order.items.length === 0 || order.discountMinor > 0 || order.shippingDiscountMinor > 0) return undefined;
  const lines = order.items.map((i) =>
    line(i.name, i.unitMinor, i.quantity, currency, {
      ...(i.description ? { description: i.description } : {}),
      ...(i.imageUrl ? { images: [i.imageUrl] } : {}),
    }),
  );
  let minor = order.items.reduce((sum, i) => sum + i.unitMinor * i.quantity, 0);
  const charges: [string, number][] = [
    ["Shipping", order.shippingMinor],
    ["Tax", order.taxMinor],
    ["Handling", order.handlingMinor],
    ["Insurance", order.insuranceMinor],
  ];
  for (const [name, value] of charges) {
    if (value <= 0) continue;
    lines.push(line(name, value, 1, currency));
    minor += value;
  }
  return { lines, minor };
}

/**
 * Checkout line items that add up to exactly the payment's amount: the order's items and
 * charges, plus an "Other charges" line when Genstore's breakdown falls short of the amount.
 * When it cannot be shown with positive lines (a discount, a breakdown above the amount), one
 * line for the whole payment.
 */
export function checkoutLineItems(amount: PspAmount, description: string, order: PspOrder | undefined): LineItem[] {
  const whole = [line(description, amount.minor, 1, amount.currency)];
  try {
    const itemised = order && orderLines(order, amount.currency);
    if (!itemised || itemised.minor > amount.minor) return whole;
    const rest = amount.minor - itemised.minor;
    return rest > 0 ? [...itemised.lines, line("Other charges", rest, 1, amount.currency)] : itemised.lines;
  } catch (err) {
    // A line Stripe cannot take in this currency (e.g. 1.234 KWD): the payment as one line.
    if (err instanceof StripeAmountError) return whole;
    throw err;
  }
}
