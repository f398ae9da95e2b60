import { createDecipheriv, createECDH, createPublicKey, diffieHellman, hkdfSync, type ECDH, type KeyObject } from "node:crypto";

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

/**
 * Runs `f` with V8 capturing no stack for errors made meanwhile. Node 24's crypto tells a buffer
 * from a key object by throwing a TypeError and catching it, twice per key argument, and each
 * such error captured a stack: a quarter of the CPU a card decryption took. Synchronous code
 * only, so nothing else runs while the limit is 0.
 */
function withoutStackTraces<T>(f: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return f();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** HKDF-SHA256 over the ECDH x-coordinate, 16 bytes for AES-128. */
export function deriveKey(shared: Buffer, salt: string, info: Buffer): Buffer {
  return Buffer.from(withoutStackTraces(() => hkdfSync("sha256", shared, Buffer.from(salt, "utf8"), info, 16)));
}

/** Whether a key is an EC key on P-256, the one curve of GENSTORE-V1. */
export function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
}

// A P-256 public key in SPKI DER with an uncompressed point, as Java, Go and OpenSSL write it: this
// fixed header (ecPublicKey, prime256v1, a 66-byte BIT STRING), then 0x04 ‖ X ‖ Y.
const P256_SPKI_HEADER = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");

/** The uncompressed point of an ephemeral key in that form; undefined for any other encoding. */
function uncompressedPoint(der: Buffer): Buffer | undefined {
  if (der.length !== P256_SPKI_HEADER.length + 65 || der[P256_SPKI_HEADER.length] !== 0x04) return undefined;
  return der.subarray(0, P256_SPKI_HEADER.length).equals(P256_SPKI_HEADER) ? der.subarray(P256_SPKI_HEADER.length) : undefined;
}

// Each private key as an ECDH object, made once: it takes the peer's point as bytes, so the
// common case parses no key object per payment (OpenSSL still checks the point is on the curve).
// undefined for a key not on P-256 (the keyring refuses those): it takes the general path.
const ecdhByKey = new WeakMap<KeyObject, ECDH | undefined>();
function ecdhOf(privateKey: KeyObject): ECDH | undefined {
  if (ecdhByKey.has(privateKey)) return ecdhByKey.get(privateKey);
  let ecdh: ECDH | undefined;
  if (isP256(privateKey)) {
    // The scalar passes through a buffer of its own (Buffer.from would put it in a shared pool)
    // and is zeroed once OpenSSL holds it.
    const d = Buffer.alloc(32);
    try {
      d.write(privateKey.export({ format: "jwk" }).d ?? "", "base64url");
      ecdh = createECDH("prime256v1");
      ecdh.setPrivateKey(d);
    } finally {
      d.fill(0);
    }
  }
  ecdhByKey.set(privateKey, ecdh);
  return ecdh;
}

/** Any other encoding of the ephemeral key, parsed and checked to be on P-256. */
function parseEphemeral(der: Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch {
    throw new CardDecryptionError();
  }
  if (!isP256(key)) throw new CardDecryptionError();
  return key;
}

/** The ECDH x-coordinate; an invalid point is the packet's fault, whichever key is tried. */
function sharedSecret(privateKey: KeyObject, point: Buffer | undefined, ephemeral: () => KeyObject): Buffer {
  const ecdh = point && ecdhOf(privateKey);
  try {
    return ecdh ? ecdh.computeSecret(point) : diffieHellman({ privateKey, publicKey: ephemeral() });
  } catch {
    throw new CardDecryptionError();
  }
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
  const point = uncompressedPoint(ephemeralDer);
  let parsed = point ? undefined : parseEphemeral(ephemeralDer);
  const ephemeral = () => (parsed ??= parseEphemeral(ephemeralDer));
  const aad = buildAad(packet.suit, ephemeralDer, iv);
  const body = sealed.subarray(0, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  for (const privateKey of privateKeys) {
    const shared = sharedSecret(privateKey, point, ephemeral);
    const key = deriveKey(shared, packet.salt, info);
    shared.fill(0);
    try {
      return withoutStackTraces(() => {
        const decipher = createDecipheriv("aes-128-gcm", key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]);
      });
    } catch {
      // Not this key (or tampered): try the next one.
    } finally {
      key.fill(0);
    }
  }
  throw new CardDecryptionError();
}
