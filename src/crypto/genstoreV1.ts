import { createDecipheriv, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from "node:crypto";

/** The packet Genstore puts in paymentMethod.data (docs/genstore-protocol.md). */
export interface CardPacket {
  cipherText: string;
  salt: string;
  ephemeralPublicKey: string;
  suit: string;
  iv: string;
}

/** Suites Genstore has documented; both name the same construction (decisions.md D9). */
export const supportedSuites: readonly string[] = ["GENSTORE-V1", "ECIESv1|AES-128-GCM|P-256"];

/**
 * One message for every undecryptable packet (wrong key, tampered bytes, bad encoding), so the
 * answer is no oracle for an attacker probing the construction.
 */
export class CardDecryptionError extends Error {
  override name = "CardDecryptionError";
  constructor(message = "paymentMethod.data could not be decrypted: check that Genstore encrypts with the public key this app publishes") {
    super(message);
  }
}

const TAG_BYTES = 16;
const IV_BYTES = 12;

function tlv(name: string, value: Buffer): Buffer {
  const n = Buffer.from(name, "ascii");
  const head = Buffer.alloc(2 + n.length + 4);
  head.writeUInt16BE(n.length, 0);
  n.copy(head, 2);
  head.writeUInt32BE(value.length, 2 + n.length);
  return Buffer.concat([head, value]);
}

/** AAD = TLV("suite", suit) ‖ TLV("eph", ephemeral key DER) ‖ TLV("iv", iv). */
export function buildAad(suit: string, ephemeralDer: Buffer, iv: Buffer): Buffer {
  return Buffer.concat([tlv("suite", Buffer.from(suit, "utf8")), tlv("eph", ephemeralDer), tlv("iv", iv)]);
}

/** HKDF-SHA256 over the ECDH x-coordinate, 16 bytes for AES-128. */
export function deriveKey(shared: Buffer, salt: string, info: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", shared, Buffer.from(salt, "utf8"), info, 16));
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
function decode(value: string): Buffer {
  const v = value.trim();
  if (!base64.test(v) || v.length % 4 !== 0) throw new CardDecryptionError();
  return Buffer.from(v, "base64");
}

/**
 * Decrypts a GENSTORE-V1 packet with the first private key that opens it (several keys are
 * active during a rotation). Returns the plaintext; the caller must zero it after use.
 */
export function decryptCardPacket(privateKeys: readonly KeyObject[], packet: CardPacket, info: Buffer = Buffer.alloc(0)): Buffer {
  if (!supportedSuites.includes(packet.suit)) {
    throw new CardDecryptionError(`paymentMethod.data.suit "${packet.suit.slice(0, 40)}" is not supported; expected one of ${supportedSuites.join(", ")}`);
  }
  const iv = decode(packet.iv);
  const ephemeralDer = decode(packet.ephemeralPublicKey);
  const sealed = decode(packet.cipherText);
  if (iv.length !== IV_BYTES || sealed.length <= TAG_BYTES) throw new CardDecryptionError();
  let ephemeral: KeyObject;
  try {
    ephemeral = createPublicKey({ key: ephemeralDer, format: "der", type: "spki" });
  } catch {
    throw new CardDecryptionError();
  }
  if (ephemeral.asymmetricKeyType !== "ec" || ephemeral.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new CardDecryptionError();
  }
  const aad = buildAad(packet.suit, ephemeralDer, iv);
  const body = sealed.subarray(0, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  for (const privateKey of privateKeys) {
    const shared = diffieHellman({ privateKey, publicKey: ephemeral });
    const key = deriveKey(shared, packet.salt, info);
    shared.fill(0);
    try {
      const decipher = createDecipheriv("aes-128-gcm", key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      // Not this key (or tampered): try the next one.
    } finally {
      key.fill(0);
    }
  }
  throw new CardDecryptionError();
}
