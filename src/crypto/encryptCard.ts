import { createCipheriv, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from "node:crypto";
import { buildAad, deriveKey, type CardPacket } from "./genstoreV1.js";

/**
 * Encrypts a card the way Genstore does (GENSTORE-V1), so an operator can try a deployment with
 * a test card (`npm run keys -- encrypt-card`); the service itself only ever decrypts.
 */
export function encryptCardPacket(publicKeySpki: string, plaintext: string, info: Buffer = Buffer.alloc(0), salt = "GENSTORE-HKDF-SALT"): CardPacket {
  const suit = "GENSTORE-V1";
  const appKey = createPublicKey({ key: Buffer.from(publicKeySpki, "base64"), format: "der", type: "spki" });
  const eph = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const ephDer = eph.publicKey.export({ format: "der", type: "spki" });
  const key = deriveKey(diffieHellman({ privateKey: eph.privateKey, publicKey: appKey }), salt, info);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-128-gcm", key, iv, { authTagLength: 16 });
  cipher.setAAD(buildAad(suit, ephDer, iv));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return { cipherText: body.toString("base64"), salt, ephemeralPublicKey: ephDer.toString("base64"), suit, iv: iv.toString("base64") };
}
