import { encryptCardPacket } from "../../src/crypto/encryptCard";
import { decryptCardPacket } from "../../src/crypto/genstoreV1";
import { generateCardKeyPem, parsePrivateKey } from "../../src/crypto/keyring";

// `npm run keys -- encrypt-card` must make what the service opens: the decryptor is pinned to
// Genstore's bytes by the Go-made vectors (genstoreV1Vectors.test.ts).
test("a test card encrypted for a public key opens with its private key, and only with it", () => {
  const key = parsePrivateKey(generateCardKeyPem(), "test");
  const other = parsePrivateKey(generateCardKeyPem(), "other");
  const packet = encryptCardPacket(key.publicKeySpki, '{"number":"4242424242424242"}');
  expect(packet).toMatchObject({ suit: "GENSTORE-V1", salt: "GENSTORE-HKDF-SALT" });
  expect(decryptCardPacket([key.privateKey], packet).toString("utf8")).toBe('{"number":"4242424242424242"}');
  expect(() => decryptCardPacket([other.privateKey], packet)).toThrow();
  const withInfo = encryptCardPacket(key.publicKeySpki, "x", Buffer.from("info"));
  expect(decryptCardPacket([key.privateKey], withInfo, Buffer.from("info")).toString("utf8")).toBe("x");
  expect(() => decryptCardPacket([key.privateKey], withInfo)).toThrow();
});
