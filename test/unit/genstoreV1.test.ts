import { CardDecryptionError, decryptCardPacket } from "../../src/crypto/genstoreV1";
import { createCardDecryptor } from "../../src/crypto/cardDecryptor";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateCardKeyPem, loadKeyring, parsePrivateKey, parsePrivateKeys } from "../../src/crypto/keyring";
import { randomCardNumber } from "../helpers/cards";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";

const key = parsePrivateKey(generateCardKeyPem(), "k1");
const other = parsePrivateKey(generateCardKeyPem(), "k2");

describe("GENSTORE-V1 decryption", () => {
  test("a packet encrypted like Genstore decrypts to the same plaintext, with either documented suite", () => {
    for (const suit of ["GENSTORE-V1", "ECIESv1|AES-128-GCM|P-256"]) {
      const packet = encryptLikeGenstore(key.publicKeySpki, testCard("4000000000000002", "987"), { suit, salt: "ECIESv1-HKDF-SALT" });
      expect(JSON.parse(decryptCardPacket([key.privateKey], packet).toString())).toEqual(testCard("4000000000000002", "987"));
    }
  });

  test("during a rotation every active key is tried", () => {
    const packet = encryptLikeGenstore(other.publicKeySpki, testCard());
    expect(JSON.parse(decryptCardPacket([key.privateKey, other.privateKey], packet).toString()).number).toBe("4242424242424242");
    expect(() => decryptCardPacket([key.privateKey], packet)).toThrow(CardDecryptionError);
  });

  test("decrypting, or failing to, leaves Error.stackTraceLimit as it found it", () => {
    const before = Error.stackTraceLimit;
    const packet = encryptLikeGenstore(key.publicKeySpki, testCard());
    decryptCardPacket([key.privateKey], packet);
    expect(() => decryptCardPacket([other.privateKey], packet)).toThrow(CardDecryptionError);
    expect(Error.stackTraceLimit).toBe(before);
    // And the error the caller sees still names where it came from.
    let refused: unknown;
    try {
      decryptCardPacket([other.privateKey], packet);
    } catch (e) {
      refused = e;
    }
    expect((refused as Error).stack).toContain("decryptCardPacket");
  });

  const flip = (b64: string, byte = 0) => {
    const b = Buffer.from(b64, "base64");
    b[byte] = (b[byte] ?? 0) ^ 1;
    return b.toString("base64");
  };
  test.each([
    ["cipherText", (p: ReturnType<typeof encryptLikeGenstore>) => ({ ...p, cipherText: flip(p.cipherText) })],
    ["tag", (p: ReturnType<typeof encryptLikeGenstore>) => ({ ...p, cipherText: flip(p.cipherText, Buffer.from(p.cipherText, "base64").length - 1) })],
    ["iv", (p: ReturnType<typeof encryptLikeGenstore>) => ({ ...p, iv: flip(p.iv) })],
    ["ephemeral key", (p: ReturnType<typeof encryptLikeGenstore>) => ({ ...p, ephemeralPublicKey: flip(p.ephemeralPublicKey, 80) })],
    ["suite (the other documented one)", (p: ReturnType<typeof encryptLikeGenstore>) => ({ ...p, suit: "ECIESv1|AES-128-GCM|P-256" })],
    ["salt", (p: ReturnType<typeof encryptLikeGenstore>) => ({ ...p, salt: "GENSTORE-HKDF-SALU" })],
    ["base64", (p: ReturnType<typeof encryptLikeGenstore>) => ({ ...p, iv: "not base64!" })],
  ])("a changed %s is refused with the one generic error", (_what, tamper) => {
    const packet = tamper(encryptLikeGenstore(key.publicKeySpki, testCard()));
    let error: unknown;
    try {
      decryptCardPacket([key.privateKey], packet);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CardDecryptionError);
    expect((error as Error).message).toBe(new CardDecryptionError().message);
  });

  test("a configured HKDF info must match the sender's", () => {
    const packet = encryptLikeGenstore(key.publicKeySpki, testCard(), { info: Buffer.from("genstore card v1") });
    expect(JSON.parse(decryptCardPacket([key.privateKey], packet, Buffer.from("genstore card v1")).toString()).number).toBe("4242424242424242");
    expect(() => decryptCardPacket([key.privateKey], packet)).toThrow(CardDecryptionError);
  });

  test("an unknown suite is refused by name", () => {
    const packet = { ...encryptLikeGenstore(key.publicKeySpki, testCard()), suit: "ROT13" };
    expect(() => decryptCardPacket([key.privateKey], packet)).toThrow('paymentMethod.data.suit "ROT13" is not supported');
  });
});

describe("card data", () => {
  const decryptor = createCardDecryptor({ keys: [key], source: "test" }, { fingerprintKey: Buffer.alloc(32, 7) });
  const year = new Date().getUTCFullYear();

  test("field aliases and two-digit years are accepted", () => {
    const packet = encryptLikeGenstore(key.publicKeySpki, {
      pan: "5555 5555 5555 4444",
      expMonth: 1,
      expYear: (year + 1) % 100,
      cvc: "321",
      cardholderName: "A B",
    });
    expect(decryptor.decrypt(packet).card).toEqual({ number: "5555555555554444", expiryMonth: 1, expiryYear: year + 1, cvv: "321", holderName: "A B" });
  });

  test.each([
    [{ ...testCard("4242424242424241") }, "the card number is not valid"],
    [{ ...testCard(), expiryYear: String(year - 1) }, "the card has expired"],
    [{ ...testCard(), expiryMonth: "13" }, "the card expiry month is not valid"],
    [{ ...testCard(), cvv: "12" }, "the card security code must have 3 digits"],
    [{ ...testCard("378282246310005"), cvv: "123" }, "the card security code must have 4 digits"],
  ])("invalid card data is refused without echoing it", (card, message) => {
    const packet = encryptLikeGenstore(key.publicKeySpki, card);
    expect(() => decryptor.decrypt(packet)).toThrow(message);
  });

  test("a plaintext that is not JSON is refused", () => {
    expect(() => decryptor.decrypt(encryptLikeGenstore(key.publicKeySpki, "4242424242424242|12|30|123"))).toThrow("the decrypted card data is not JSON");
  });
});

test("a keys file may hold several PEM keys", () => {
  const both = parsePrivateKeys(generateCardKeyPem() + generateCardKeyPem(), "file");
  expect(both).toHaveLength(2);
  expect(both[0]?.publicKeySpki).not.toBe(both[1]?.publicKeySpki);
});

describe("key rotation and key sources", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "keys-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("random cards encrypted to any key of a rotated set decrypt to the same card", () => {
    const file = join(dir, "keys.pem");
    writeFileSync(file, generateCardKeyPem() + generateCardKeyPem() + generateCardKeyPem());
    const keyring = loadKeyring({ env: { CARD_PRIVATE_KEYS_FILE: file }, dataDir: dir, production: true });
    expect(keyring.keys).toHaveLength(3);
    const decryptor = createCardDecryptor(keyring, { fingerprintKey: Buffer.alloc(32, 1) });
    expect(decryptor.publicKeys()).toEqual(keyring.keys.map((k) => k.publicKeySpki));
    for (const k of keyring.keys) {
      for (let i = 0; i < 20; i++) {
        const plain = testCard(randomCardNumber(i % 2 ? "4" : "5"), String(100 + i));
        const { card, fingerprint } = decryptor.decrypt(encryptLikeGenstore(k.publicKeySpki, plain));
        expect(card).toEqual({ ...plain, expiryMonth: 12, expiryYear: Number(plain.expiryYear) });
        expect(fingerprint).toBe(decryptor.decrypt(encryptLikeGenstore(keyring.keys[0]!.publicKeySpki, plain)).fingerprint);
      }
    }
  });

  test("CARD_PRIVATE_KEY takes base64 PKCS#8 DER as well as PEM", () => {
    const pem = generateCardKeyPem();
    const der = pem.replace(/-----[A-Z ]+-----|\s/g, "");
    const a = loadKeyring({ env: { CARD_PRIVATE_KEY: pem }, dataDir: dir, production: true });
    const b = loadKeyring({ env: { CARD_PRIVATE_KEY: der }, dataDir: dir, production: true });
    expect(b.keys[0]?.publicKeySpki).toBe(a.keys[0]?.publicKeySpki);
    expect(() => loadKeyring({ env: { CARD_PRIVATE_KEY: "not a key" }, dataDir: dir, production: true })).toThrow(
      "CARD_PRIVATE_KEY is not a PEM or base64 PKCS#8 private key",
    );
  });

  test("outside production a dev key is generated once, private to its owner, and reused", () => {
    const first = loadKeyring({ env: {}, dataDir: dir, production: false });
    const second = loadKeyring({ env: {}, dataDir: dir, production: false });
    expect(second.keys[0]?.publicKeySpki).toBe(first.keys[0]?.publicKeySpki);
    expect(statSync(join(dir, "keys", "card-dev-key.pem")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "keys", "card-dev-key.pem"), "utf8")).toContain("BEGIN PRIVATE KEY");
    expect(() => loadKeyring({ env: {}, dataDir: dir, production: true })).toThrow(/no card decryption key/);
  });
});
