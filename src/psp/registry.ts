import type { Connector } from "./connector.js";

export interface ConnectorRegistry {
  /** The connector of that name, or undefined when this deployment has none. */
  find(name: string): Connector | undefined;
  names(): string[];
}

/** Connectors by name; a shop names its PSP and gets that connector (docs/architecture.md). */
export function createConnectorRegistry(connectors: readonly Connector[]): ConnectorRegistry {
  const byName = new Map(connectors.map((c) => [c.name, c]));
  return {
    find: (name) => byName.get(name),
    names: () => [...byName.keys()],
  };
}
