import { PaymentError } from "../payments/errors.js";
import type { Connector } from "./connector.js";

export interface ConnectorRegistry {
  get(name: string): Connector;
  names(): string[];
}

/** Connectors by name; a shop names its PSP and gets that connector (design §3). */
export function createConnectorRegistry(connectors: readonly Connector[]): ConnectorRegistry {
  const byName = new Map(connectors.map((c) => [c.name, c]));
  return {
    get(name) {
      const c = byName.get(name);
      if (!c) throw new PaymentError("failed_precondition", `the shop's PSP "${name}" is not available in this deployment`, `known connectors: ${[...byName.keys()].join(", ")}`);
      return c;
    },
    names: () => [...byName.keys()],
  };
}
