import { createCipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from "node:crypto";

// Written from Genstore's description (card-encryption page), not from src/: the tests must
// not share a layout bug with the code they check. test/fixtures/genstore-v1/vectors.json,
// made with Go's standard library, pins both to the same bytes.

export interface GenstorePacket {
  cipherText: string;
  salt: string;
  ephemeralPublicKey: string;
  suit: string;
  iv: string;
}

export interface EncryptOptions {
  suit?: string;
  salt?: string;
  info?: Buffer;
}

/** [2-byte big-endian name length][name][4-byte big-endian value length][value]. */
function field(name: string, value: Buffer): Buffer {
  const nameLength = Buffer.alloc(2);
  nameLength.writeUInt16BE(name.length);
  const valueLength = Buffer.alloc(4);
  valueLength.writeUInt32BE(value.length);
  return Buffer.concat([nameLength, Buffer.from(name, "ascii"), valueLength, value]);
}

/**
 * Encrypts like Genstore does: a fresh ephemeral P-256 key, ECDH with the app's public key,
 * HKDF-SHA256 (salt as UTF-8, 16 bytes), AES-128-GCM with AAD = suite ‖ eph ‖ iv, tag appended.
 */
export function encryptLikeGenstore(appPublicKeySpki: string, plaintext: object | string, opts: EncryptOptions = {}): GenstorePacket {
  const suit = opts.suit ?? "GENSTORE-V1";
  const salt = opts.salt ?? "GENSTORE-HKDF-SALT";
  const appKey = createPublicKey({ key: Buffer.from(appPublicKeySpki, "base64"), format: "der", type: "spki" });
  const eph = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const ephDer = eph.publicKey.export({ format: "der", type: "spki" });
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: appKey });
  const key = Buffer.from(hkdfSync("sha256", shared, Buffer.from(salt, "utf8"), opts.info ?? Buffer.alloc(0), 16));
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-128-gcm", key, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.concat([field("suite", Buffer.from(suit, "utf8")), field("eph", ephDer), field("iv", iv)]));
  const body = Buffer.concat([cipher.update(typeof plaintext === "string" ? plaintext : JSON.stringify(plaintext), "utf8"), cipher.final()]);
  return {
    cipherText: Buffer.concat([body, cipher.getAuthTag()]).toString("base64"),
    salt,
    ephemeralPublicKey: ephDer.toString("base64"),
    suit,
    iv: iv.toString("base64"),
  };
}

/** A card JSON as Genstore's plaintext is presumed to look. */
export function testCard(number = "4242424242424242", cvv = "123") {
  return { number, expiryMonth: "12", expiryYear: String(new Date().getUTCFullYear() + 3), cvv, holderName: "John Smith" };
}
