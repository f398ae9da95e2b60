import { createPrivateKey, createPublicKey } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createCardDecryptor } from "../../src/crypto/cardDecryptor";
import { CardDecryptionError, decryptCardPacket } from "../../src/crypto/genstoreV1";
import vectors from "../fixtures/genstore-v1/vectors.json";

// Known answers made with Go's standard library (test/fixtures/genstore-v1/make-vectors.go),
// independent of our code: a layout bug in the AAD, the HKDF or the tag placement fails here.
const privateKey = createPrivateKey({ key: Buffer.from(vectors.privateKeyPkcs8Base64, "base64"), format: "der", type: "pkcs8" });
const decryptor = (info: string) =>
  createCardDecryptor(
    { keys: [{ privateKey, publicKeySpki: vectors.publicKeySpkiBase64 }], source: "vectors" },
    { fingerprintKey: Buffer.alloc(32, 1), info: Buffer.from(info, "utf8") },
  );

test("the vectors' public key is the one their private key makes", () => {
  expect(createPublicKey(privateKey).export({ format: "der", type: "spki" }).toString("base64")).toBe(vectors.publicKeySpkiBase64);
});

const decrypting = vectors.vectors.filter((v) => v.expect === "decrypts");
const refused = vectors.vectors.filter((v) => v.expect === "refused");

test("there are vectors of both kinds", () => {
  expect(decrypting.length).toBeGreaterThanOrEqual(4);
  expect(refused.length).toBeGreaterThanOrEqual(4);
});

test.each(decrypting.map((v) => [v.name, v] as const))("%s: decrypts to the given plaintext", (_name, v) => {
  const plaintext = v.plaintext ?? "";
  expect(decryptCardPacket([privateKey], v.data, Buffer.from(v.hkdfInfo, "utf8")).toString("utf8")).toBe(plaintext);
  // And through the service's decryptor, to the card the plaintext names.
  const given = JSON.parse(plaintext) as Record<string, string>;
  const { card } = decryptor(v.hkdfInfo).decrypt(v.data);
  expect(card.number).toBe(given.number ?? given.cardNumber);
  expect(card.cvv).toBe(given.cvv ?? given.cvc);
});

test("the vector with a non-empty HKDF info is refused under the default empty info", () => {
  const withInfo = decrypting.find((v) => v.hkdfInfo !== "");
  expect(withInfo).toBeDefined();
  expect(() => decryptCardPacket([privateKey], withInfo!.data)).toThrow(CardDecryptionError);
});

test.each(refused.map((v) => [v.name, v] as const))("%s: is refused with the one generic error", (_name, v) => {
  expect(() => decryptCardPacket([privateKey], v.data, Buffer.from(v.hkdfInfo, "utf8"))).toThrow(new CardDecryptionError());
});

test("no test encrypts with the project's own AAD or key-derivation code", () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith(".ts")) files.push(join(dir, e.name));
    }
  };
  walk(join(__dirname, ".."));
  const offenders = files.filter((f) => /\b(buildAad|deriveKey)\b/.test(readFileSync(f, "utf8")) && !f.endsWith("genstoreV1Vectors.test.ts"));
  expect(offenders).toEqual([]);
});
