import { createHmac } from "node:crypto";
import { hmacKey } from "../runtime/hmacKey.js";
import { cardBrand, parseCard, type CardDetails, type CardSummary } from "./cardData.js";
import { decryptCardPacket, type CardPacket } from "./genstoreV1.js";
import type { Keyring } from "./keyring.js";

/** Turns Genstore's encrypted packet into a checked card; the only door to a card number. */
export interface CardDecryptor {
  /** The card and its keyed fingerprint. The card must not outlive the PSP call. */
  decrypt(packet: CardPacket): { card: CardDetails; fingerprint: string };
  /** What may be stored of a card: brand, last 4, expiry, fingerprint. */
  summarize(card: CardDetails, fingerprint: string): CardSummary;
  /** Base64 SPKI DER of every active public key, the first being the one to register. */
  publicKeys(): string[];
}

export interface CardDecryptorOptions {
  /** HMAC key for card fingerprints (decisions.md D14). */
  fingerprintKey: Buffer;
  /** HKDF info; Genstore has not published one, empty by default (decisions.md D9). */
  info?: Buffer;
}

export function createCardDecryptor(keyring: Keyring, opts: CardDecryptorOptions): CardDecryptor {
  const privateKeys = keyring.keys.map((k) => k.privateKey);
  const info = opts.info ?? Buffer.alloc(0);
  const fingerprintKey = hmacKey(opts.fingerprintKey);
  return {
    decrypt(packet) {
      const plaintext = decryptCardPacket(privateKeys, packet, info);
      try {
        const card = parseCard(plaintext);
        const fingerprint = createHmac("sha256", fingerprintKey).update(card.number).digest("base64url");
        return { card, fingerprint };
      } finally {
        plaintext.fill(0);
      }
    },
    summarize: (card, fingerprint) => ({
      brand: cardBrand(card.number),
      last4: card.number.slice(-4),
      expiryMonth: card.expiryMonth,
      expiryYear: card.expiryYear,
      fingerprint,
    }),
    publicKeys: () => keyring.keys.map((k) => k.publicKeySpki),
  };
}
