// Decrypt cost of one GENSTORE-V1 card packet (ECDH P-256 + HKDF + AES-128-GCM + card checks).
// Run: npx tsx test/bench/decrypt.ts [iterations]. Prints figures; it is not a test.
import { cpus } from "node:os";
import { createCardDecryptor } from "../../src/crypto/cardDecryptor";
import { generateCardKeyPem, parsePrivateKey } from "../../src/crypto/keyring";
import { encryptLikeGenstore, testCard } from "../helpers/genstoreEncrypt";

const iterations = Number(process.argv[2] ?? 5000);
const key = parsePrivateKey(generateCardKeyPem(), "bench");
const other = parsePrivateKey(generateCardKeyPem(), "bench-old");
const packets = Array.from({ length: 256 }, () => encryptLikeGenstore(key.publicKeySpki, testCard()));

function measure(label: string, keys: (typeof key)[]) {
  const decryptor = createCardDecryptor({ keys, source: "bench" }, { fingerprintKey: Buffer.alloc(32, 3) });
  for (let i = 0; i < 500; i++) decryptor.decrypt(packets[i % packets.length]!); // warm-up
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t = process.hrtime.bigint();
    decryptor.decrypt(packets[i % packets.length]!);
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const total = Number(process.hrtime.bigint() - start) / 1000;
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]!.toFixed(1);
  console.log(
    `${label.padEnd(34)} ${(total / iterations).toFixed(1).padStart(7)} µs/op  p50 ${pct(50)}  p99 ${pct(99)}  ${Math.round((iterations / total) * 1e6)} ops/s`,
  );
}

console.log(`decrypt benchmark: ${iterations} packets, node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"} (${cpus().length} cores)`);
measure("one active key", [key]);
measure("two keys, match on the second", [other, key]);
