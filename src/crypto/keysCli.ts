// `npm run keys -- <command>`: card-encryption key pairs for operators (decisions.md D9, D14).
import { readFileSync, writeFileSync } from "node:fs";
import { encryptCardPacket } from "./encryptCard.js";
import { generateCardKeyPem, parsePrivateKeys } from "./keyring.js";

const usage = `usage:
  npm run keys -- generate [--out FILE]   new P-256 key pair: the private key (PKCS#8 PEM) goes to FILE
                                          (mode 0600; stdout without --out), the public key to register
                                          with Genstore (base64 SPKI DER) is printed
  npm run keys -- public FILE             the public key of every private key in FILE (PEM blocks, or
                                          one base64 PKCS#8 key per line, as CARD_PRIVATE_KEYS_FILE)
  npm run keys -- encrypt-card [NUMBER] [--url URL | --key PUBLIC_KEY]
                                          a test card (default 4242424242424242, CVV 123) encrypted as
                                          Genstore does for the service at URL (http://localhost:8080)
                                          or for PUBLIC_KEY: paymentMethod.data as one line of JSON`;

/** The card-encryption public key a running service publishes. */
async function publishedKey(url: string): Promise<string> {
  const res = await fetch(`${url.replace(/\/+$/, "")}/genstore/v1/card-encryption-key`);
  if (!res.ok) throw new Error(`${url} answered ${res.status} for its card-encryption key`);
  return ((await res.json()) as { publicKey: string }).publicKey;
}

async function encryptCard(args: string[]): Promise<number> {
  const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const number = args.find((a, i) => /^\d{12,19}$/.test(a) && !["--url", "--key"].includes(args[i - 1] ?? "")) ?? "4242424242424242";
  const publicKey = option("--key") ?? (await publishedKey(option("--url") ?? "http://localhost:8080"));
  const card = { number, expiryMonth: "12", expiryYear: String(new Date().getUTCFullYear() + 3), cvv: "123", holderName: "Test Card" };
  process.stdout.write(JSON.stringify(encryptCardPacket(publicKey, JSON.stringify(card))) + "\n");
  return 0;
}

function main(args: string[]): number {
  const [command, ...rest] = args;
  if (command === "generate") {
    const outIndex = rest.indexOf("--out");
    const out = outIndex >= 0 ? rest[outIndex + 1] : undefined;
    if (outIndex >= 0 && !out) {
      process.stderr.write(`--out needs a file name\n${usage}\n`);
      return 2;
    }
    const pem = generateCardKeyPem();
    const [key] = parsePrivateKeys(pem, "generated key");
    if (out) {
      writeFileSync(out, pem, { mode: 0o600, flag: "wx" });
      process.stdout.write(`private key written to ${out} (keep it secret; set CARD_PRIVATE_KEY or add it to CARD_PRIVATE_KEYS_FILE)\n`);
    } else {
      process.stdout.write(pem);
    }
    process.stdout.write(`public key (register with Genstore): ${key?.publicKeySpki}\n`);
    return 0;
  }
  if (command === "public" && rest[0]) {
    for (const key of parsePrivateKeys(readFileSync(rest[0], "utf8"), rest[0])) process.stdout.write(`${key.publicKeySpki}\n`);
    return 0;
  }
  process.stderr.write(`${usage}\n`);
  return 2;
}

const args = process.argv.slice(2);
Promise.resolve()
  .then(() => (args[0] === "encrypt-card" ? encryptCard(args.slice(1)) : main(args)))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`keys: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
