import { orderForPsp } from "../../src/payments/use-cases/orderForPsp";
import type { OrderDetails } from "../../src/payments/use-cases/types";
import { checkoutLineItems } from "../../src/psp/stripe/order";

const order = (over: Partial<OrderDetails> = {}): OrderDetails => ({
  email: "buyer@example.com",
  phoneNumber: "",
  client: { acceptLanguage: "", ipAddress: "203.0.113.9", userAgent: "" },
  items: [
    { name: "Shirt", description: "", sku: "S1", imgUrl: "", quantity: "2", unitPrice: "10.00" },
    { name: "Hat", description: "", sku: "", imgUrl: "https://img.example/h.png", quantity: "1", unitPrice: "5" },
  ],
  itemTotal: "25.00",
  shipping: "4.00",
  taxTotal: "1.50",
  discount: "",
  handling: "0",
  insurance: "",
  shippingDiscount: "0.0",
  description: "",
  ...over,
});

const lines = (amountMinor: number, o: OrderDetails, currency = "USD") =>
  checkoutLineItems({ minor: amountMinor, currency }, "Genstore payment P1", orderForPsp(o, currency, false)).map((l) => [
    l.price_data?.product_data?.name,
    l.price_data?.unit_amount,
    l.quantity,
  ]);

test("an order whose breakdown adds up becomes its lines exactly", () => {
  expect(lines(3050, order())).toEqual([
    ["Shirt", 1000, 2],
    ["Hat", 500, 1],
    ["Shipping", 400, 1],
    ["Tax", 150, 1],
  ]);
});

test("a breakdown short of the amount gets one more line for the rest; one above it, or with a discount, is one line", () => {
  expect(lines(3100, order()).at(-1)).toEqual(["Other charges", 50, 1]);
  expect(lines(3000, order())).toEqual([["Genstore payment P1", 3000, 1]]);
  expect(lines(2800, order({ discount: "2.50" }))).toEqual([["Genstore payment P1", 2800, 1]]);
});

test("items Genstore sent in a shape no PSP can show are left out, and amounts follow the currency", () => {
  const odd = order({
    items: [
      { name: "", description: "", sku: "", imgUrl: "", quantity: "1", unitPrice: "1" },
      { name: "Gift", description: "", sku: "", imgUrl: "", quantity: "x", unitPrice: "1" },
    ],
  });
  expect(orderForPsp(odd, "USD", false).items).toEqual([]);
  expect(orderForPsp(order(), "JPY", false).items).toEqual([
    { name: "Shirt", sku: "S1", quantity: 2, unitMinor: 10 },
    { name: "Hat", imageUrl: "https://img.example/h.png", quantity: 1, unitMinor: 5 },
  ]);
});

test("no empty strings reach the PSP; a receipt address only when the shop asks", () => {
  const o = orderForPsp(
    order({
      billingAddress: {
        givenName: " Ana ",
        familyName: "",
        company: "",
        line1: "1 Rua",
        line2: "",
        city: "",
        province: "",
        postalCode: "",
        countryCode: "pt",
        phoneNumber: "",
      },
    }),
    "EUR",
    false,
  );
  expect(o.billing).toEqual({ name: "Ana", line1: "1 Rua", country: "PT" });
  expect(o.client).toEqual({ ipAddress: "203.0.113.9" });
  expect(o.receiptEmail).toBeUndefined();
  expect(orderForPsp(order(), "EUR", true).receiptEmail).toBe("buyer@example.com");
});
