import { createCipheriv, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from "node:crypto";
import { buildAad, deriveKey, type CardPacket } from "../../src/crypto/genstoreV1";

export interface EncryptOptions {
  suit?: string;
  salt?: string;
  info?: Buffer;
}

/**
 * Encrypts like Genstore does (genstore-protocol.md §4): a fresh ephemeral P-256 key, ECDH
 * with the app's public key, HKDF-SHA256, AES-128-GCM with the TLV AAD, tag appended.
 */
export function encryptLikeGenstore(appPublicKeySpki: string, plaintext: object | string, opts: EncryptOptions = {}): CardPacket {
  const suit = opts.suit ?? "GENSTORE-V1";
  const salt = opts.salt ?? "GENSTORE-HKDF-SALT";
  const appKey = createPublicKey({ key: Buffer.from(appPublicKeySpki, "base64"), format: "der", type: "spki" });
  const eph = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const ephDer = eph.publicKey.export({ format: "der", type: "spki" });
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: appKey });
  const key = deriveKey(shared, salt, opts.info ?? Buffer.alloc(0));
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-128-gcm", key, iv, { authTagLength: 16 });
  cipher.setAAD(buildAad(suit, ephDer, iv));
  const body = Buffer.concat([cipher.update(typeof plaintext === "string" ? plaintext : JSON.stringify(plaintext), "utf8"), cipher.final()]);
  return {
    cipherText: Buffer.concat([body, cipher.getAuthTag()]).toString("base64"),
    salt,
    ephemeralPublicKey: ephDer.toString("base64"),
    suit,
    iv: iv.toString("base64"),
  };
}

/** A card JSON as Genstore's plaintext is presumed to look (design §2.9). */
export function testCard(number = "4242424242424242", cvv = "123") {
  return { number, expiryMonth: "12", expiryYear: String(new Date().getUTCFullYear() + 3), cvv, holderName: "John Smith" };
}
