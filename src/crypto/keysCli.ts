// `npm run keys -- <command>`: card-encryption key pairs for operators (decisions.md D9, D14).
import { readFileSync, writeFileSync } from "node:fs";
import { generateCardKeyPem, parsePrivateKeys } from "./keyring.js";

const usage = `usage:
  npm run keys -- generate [--out FILE]   new P-256 key pair: the private key (PKCS#8 PEM) goes to FILE
                                          (mode 0600; stdout without --out), the public key to register
                                          with Genstore (base64 SPKI DER) is printed
  npm run keys -- public FILE             the public key of every private key in FILE (PEM blocks, or
                                          one base64 PKCS#8 key per line, as CARD_PRIVATE_KEYS_FILE)`;

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

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`keys: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
