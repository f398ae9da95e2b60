/** What the sandbox does with each test card (decisions.md D10). Any other valid card is approved. */
export type SandboxBehaviour = "approve" | "decline_card" | "decline_funds" | "three_ds" | "async_approve" | "error_after_charge" | "refunds_fail";

export const sandboxTestCards: Readonly<Record<string, SandboxBehaviour>> = {
  "4242424242424242": "approve",
  "4000000000000002": "decline_card",
  "4000000000009995": "decline_funds",
  "4000000000003220": "three_ds",
  "4000000000000259": "async_approve",
  "4000000000000119": "error_after_charge",
  "4000000000005126": "refunds_fail",
};

export function behaviourOf(cardNumber: string): SandboxBehaviour {
  return sandboxTestCards[cardNumber] ?? "approve";
}
