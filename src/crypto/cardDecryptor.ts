import { parseCard, type CardDetails } from "./cardData.js";
import { decryptCardPacket, type CardPacket } from "./genstoreV1.js";
import type { Keyring } from "./keyring.js";

/** Turns Genstore's encrypted packet into a checked card; the only door to a card number. */
export interface CardDecryptor {
  decrypt(packet: CardPacket): CardDetails;
  /** Base64 SPKI DER of every active public key, newest first. */
  publicKeys(): string[];
}

export function createCardDecryptor(keyring: Keyring, info: Buffer = Buffer.alloc(0)): CardDecryptor {
  const privateKeys = keyring.keys.map((k) => k.privateKey);
  return {
    decrypt(packet) {
      const plaintext = decryptCardPacket(privateKeys, packet, info);
      try {
        return parseCard(plaintext);
      } finally {
        plaintext.fill(0);
      }
    },
    publicKeys: () => keyring.keys.map((k) => k.publicKeySpki),
  };
}
