import type { ConnectorModule } from "./module.js";
import { sandboxModule } from "./sandbox/module.js";
import { stripeModule } from "./stripe/module.js";

/** The PSPs this service can use. A new PSP is one folder beside these and one line here. */
export const connectorModules: readonly ConnectorModule<never>[] = [sandboxModule, stripeModule] as ConnectorModule<never>[];

export function connectorModule(name: string): ConnectorModule<never> | undefined {
  return connectorModules.find((m) => m.name === name);
}
