// The encrypted backup file (TLRWBK01): checked against an independent
// implementation written here from DESIGN.md (tweetnacl secretbox, fflate's
// own gunzip/gzip, Taler's kdf on node:crypto HMACs), a golden file, and every
// way a file can be wrong.
import { createHmac } from "node:crypto";
import * as zlib from "node:zlib";
import fc from "fast-check";
import { gunzipSync as fflateGunzipSync, gzipSync as fflateGzipSync } from "fflate";
import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import {
  BACKUP_MAGIC,
  DEFAULT_MAX_PLAIN_BYTES,
  decryptBackupBytes,
  decryptBackupFile,
  deriveBlobSecret,
  encryptBackupBytes,
  parseBackupJson,
  type GzipImplementation,
} from "../src/backup/file.ts";
import { fflateGzip, type GzipCodec } from "../src/backup/gzip.ts";
import { nodeZlibGzip } from "../src/backup/gzip-node.ts";
import { canonicalJson } from "../src/codec/canonical-json.ts";
import { crc32 } from "../src/codec/crc32.ts";
import { decodeCrock, encodeCrock } from "../src/codec/crockford.ts";
import { kdf } from "../src/codec/kdf.ts";
import * as api from "../src/index.ts";
import { codeOf } from "./support/error-code.ts";

const utf8 = new TextEncoder();
const IMPLS: GzipImplementation[] = ["fflate", "node-zlib"];
const CODECS: GzipCodec[] = [fflateGzip, nodeZlibGzip];
const PROPERTY_RUNS = Number(process.env.PROPERTY_RUNS ?? 50);

// ------------------------------------------------------------ the independent implementation

/** Taler's kdf as DESIGN.md states it: PRK = HMAC-SHA512(salt, ikm); T(i) = HMAC-SHA256(PRK, T(i-1) ‖ info ‖ i). */
function refKdf(outLen: number, ikm: Uint8Array, salt: Uint8Array | string, info: Uint8Array | string): Uint8Array {
  const prk = createHmac("sha512", salt).update(ikm).digest();
  const blocks: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < outLen; i++) {
    prev = createHmac("sha256", prk).update(prev).update(info).update(Buffer.of(i)).digest();
    blocks.push(prev);
  }
  return new Uint8Array(Buffer.concat(blocks).subarray(0, outLen));
}

const refBlobKey = (seed: Uint8Array) => refKdf(32, seed, "taler-sync-blob-secret-salt", "taler-sync-blob-secret-info");

/** secretbox of arbitrary plaintext with the right key: lets the tests make authentic files with any content. */
function refSeal(plaintext: Uint8Array, seed: Uint8Array, nonce = nacl.randomBytes(24)): Uint8Array {
  const box = nacl.secretbox(plaintext, nonce, refBlobKey(seed));
  return new Uint8Array(Buffer.concat([Buffer.from("TLRWBK01", "ascii"), nonce, box]));
}

function refEncrypt(text: string, seed: Uint8Array, nonce?: Uint8Array): Uint8Array {
  return refSeal(fflateGzipSync(utf8.encode(text), { level: 6, mtime: 0 }), seed, nonce);
}

function refDecrypt(file: Uint8Array, seed: Uint8Array): string {
  expect(Buffer.from(file.subarray(0, 8)).toString("ascii")).toBe("TLRWBK01");
  const gz = nacl.secretbox.open(file.subarray(32), file.subarray(8, 32), refBlobKey(seed));
  if (gz === null) throw new Error("reference secretbox.open failed");
  return new TextDecoder().decode(fflateGunzipSync(gz));
}

// ------------------------------------------------------------ fixtures

const SEED = Uint8Array.from({ length: 32 }, (_, i) => i);
const SEED_CROCK = encodeCrock(SEED);
const OTHER_SEED = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const NONCE = Uint8Array.from({ length: 24 }, (_, i) => 0xa0 + i);
const GOLDEN_JSON =
  '{"clocks":{},"schema_id":"gnu-taler-wallet-backup-content","schema_version":1,"wallet_root_pub":"Ł€"}';
// refEncrypt(GOLDEN_JSON, SEED, NONCE), computed once by the reference above (fflate level 6, MTIME 0).
const GOLDEN_BLOB_KEY = "55991eee0fc4d9bc576aad46a087f8d7a071332e1c75194c135a5d21550c8ba5";
const GOLDEN_FILE =
  "544c5257424b3031a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7a21ecd53b6e9edd93f00d4da3a4f593ab992d867cf42" +
  "71e689acc69b40881329678fc85346b15d0f6cd09db5725e69a422bf636ad2ee75ff20ab89aa8c8b26629bf8da34cb4996f7db2556" +
  "12a0a1b74f1d818b11666667f36c99cfae212a7e91c1aa9623d219d62e8897e91361b232619c1892f9bed4b94924667c97cd84aa92";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

function sampleJson(): string {
  return canonicalJson({
    schema_id: "gnu-taler-wallet-backup-content",
    schema_version: 1,
    wallet_root_pub: encodeCrock(new Uint8Array(32).fill(9)),
    clocks: { [encodeCrock(new Uint8Array(32).fill(1))]: 3 },
    events: Array.from({ length: 40 }, (_, i) => ({
      seq: i + 1,
      type: "coin-withdrawn",
      data: { coinPub: encodeCrock(new Uint8Array(32).fill(i)), value: "KUDOS:5", url: "https://exchange.example.com/" },
      note: "ünïcödé ✓ 𝄞",
    })),
  });
}

function flipped(file: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const copy = file.slice();
  copy[index] ^= mask;
  return copy;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A valid gzip of `mib` MiB of zeros, built without holding them: one MiB
 * deflated with a sync flush ends byte-aligned and non-final, so copies of it
 * chain into one deflate stream; an empty final block closes it.
 */
function zeroBomb(mib: number): Uint8Array {
  const zeros = new Uint8Array(1 << 20);
  const block = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  let crc = 0;
  for (let i = 0; i < mib; i++) crc = zlib.crc32(zeros, crc);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE((mib * (1 << 20)) >>> 0, 4);
  const header = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3);
  return concat(header, ...Array.from({ length: mib }, () => block), Uint8Array.of(0x03, 0x00), trailer);
}

// ------------------------------------------------------------ keys and vectors

describe("backup keys", () => {
  it("kdf gives DESIGN.md's vector, and so does the test's own node:crypto kdf", () => {
    const ikm = decodeCrock("94KPT83MD1JJ0WV5CDS6AX10D5Q70XBM41NPAY90DNGQ8SBJD5GPR");
    const salt = decodeCrock("94KPT83PCNS7J83KC5P78Y8");
    const info = decodeCrock("94KPT83141HPYVKMCNW78833D1TPWTSC41GPRWVF41NPWVVQDRG62WS04XMPWSKF4WG6JVH0EHM6A82J8S1G");
    const want = "GTMR4QT05Z9WF5HKVG0WK9RPXGHSMHJNW377G9GJXCA8B0FEKPF4D27RJMSJZYWSQNTBJ5EYVV7ZW18B48Z0JVJJ80RHB706Y96Q358";
    expect(encodeCrock(kdf(64, ikm, salt, info))).toBe(want);
    expect(encodeCrock(refKdf(64, ikm, salt, info))).toBe(want);
  });

  it("kdf agrees with the reference at every length across block boundaries", () => {
    for (const n of [0, 1, 31, 32, 33, 63, 64, 65, 100, 255]) {
      expect(hex(kdf(n, SEED, "salt", "info"))).toBe(hex(refKdf(n, SEED, "salt", "info")));
    }
  });

  it("the blob secret is kdf(32, root, blob salt, blob info)", () => {
    expect(hex(deriveBlobSecret(SEED))).toBe(GOLDEN_BLOB_KEY);
    expect(hex(refBlobKey(SEED))).toBe(GOLDEN_BLOB_KEY);
    expect(hex(deriveBlobSecret(OTHER_SEED))).toBe(hex(refBlobKey(OTHER_SEED)));
  });
});

// ------------------------------------------------------------ the format

describe("TLRWBK01 file", () => {
  it("the golden file: the reference writes exactly these bytes, and so does our fflate writer", () => {
    expect(hex(refEncrypt(GOLDEN_JSON, SEED, NONCE))).toBe(GOLDEN_FILE);
    expect(hex(encryptBackupBytes(GOLDEN_JSON, SEED, { nonce: NONCE, gzip: "fflate" }))).toBe(GOLDEN_FILE);
  });

  it("the golden file decrypts with either gzip and through decryptBackupFile", () => {
    for (const gzip of IMPLS) expect(decryptBackupBytes(fromHex(GOLDEN_FILE), SEED, { gzip })).toBe(GOLDEN_JSON);
    expect(decryptBackupBytes(fromHex(GOLDEN_FILE), SEED)).toBe(GOLDEN_JSON);
    expect(decryptBackupFile(fromHex(GOLDEN_FILE), SEED_CROCK)).toEqual(JSON.parse(GOLDEN_JSON));
    expect(decryptBackupFile(fromHex(GOLDEN_FILE), SEED_CROCK.toLowerCase())).toEqual(JSON.parse(GOLDEN_JSON));
  });

  it("our node:zlib writer keeps the layout: same magic and nonce, a body the reference opens", () => {
    const file = encryptBackupBytes(GOLDEN_JSON, SEED, { nonce: NONCE, gzip: "node-zlib" });
    expect(hex(file.subarray(0, 32))).toBe(GOLDEN_FILE.slice(0, 64));
    expect(refDecrypt(file, SEED)).toBe(GOLDEN_JSON);
  });

  it("is magic, nonce, then the tag-first secretbox of a gzip", () => {
    const text = sampleJson();
    for (const gzip of IMPLS) {
      const file = encryptBackupBytes(text, SEED, { gzip });
      expect(Buffer.from(file.subarray(0, 8)).toString("ascii")).toBe(BACKUP_MAGIC);
      const gz = nacl.secretbox.open(file.subarray(32), file.subarray(8, 32), refBlobKey(SEED))!;
      expect(gz).not.toBeNull();
      expect(file.length).toBe(8 + 24 + 16 + gz.length);
      expect([...gz.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]);
      expect(gz.subarray(4, 8)).toEqual(new Uint8Array(4)); // MTIME 0: no timestamp leaks into the file
    }
  });

  it("what we write, the independent implementation reads", () => {
    for (const text of [sampleJson(), "{}", GOLDEN_JSON, canonicalJson({ a: "\u0000\u2028\ud83d\ude00", b: [1, -0.5, 1e21, null] })]) {
      for (const gzip of IMPLS) expect(refDecrypt(encryptBackupBytes(text, SEED, { gzip }), SEED)).toBe(text);
    }
  });

  it("what the independent implementation writes, we read", () => {
    for (const text of [sampleJson(), "{}", GOLDEN_JSON]) {
      const file = refEncrypt(text, SEED);
      for (const gzip of IMPLS) expect(decryptBackupBytes(file, SEED, { gzip })).toBe(text);
      expect(decryptBackupFile(file, SEED_CROCK)).toEqual(JSON.parse(text));
    }
  });

  it("every file gets a fresh nonce", () => {
    const a = encryptBackupBytes("{}", SEED);
    const b = encryptBackupBytes("{}", SEED);
    expect(hex(a.subarray(8, 32))).not.toBe(hex(b.subarray(8, 32)));
    expect(hex(a.subarray(32))).not.toBe(hex(b.subarray(32)));
  });

  it("the bound is inclusive: a file inflating to exactly maxPlainBytes is read, one byte less is refused", () => {
    const text = sampleJson();
    const file = encryptBackupBytes(text, SEED);
    const n = utf8.encode(text).length;
    for (const gzip of IMPLS) {
      expect(decryptBackupBytes(file, SEED, { gzip, maxPlainBytes: n + 1 })).toBe(text);
      expect(decryptBackupBytes(file, SEED, { gzip, maxPlainBytes: n })).toBe(text);
      expect(codeOf(() => decryptBackupBytes(file, SEED, { gzip, maxPlainBytes: n - 1 }))).toBe("backup-too-large");
    }
    expect(DEFAULT_MAX_PLAIN_BYTES).toBe(256 * 1024 * 1024);
  });

  it("is exported from the public API", () => {
    expect(api.decryptBackupFile).toBe(decryptBackupFile);
    expect(api.encryptBackupBytes).toBe(encryptBackupBytes);
    expect(api.decryptBackupBytes).toBe(decryptBackupBytes);
    expect(api.deriveBlobSecret).toBe(deriveBlobSecret);
  });
});

// ------------------------------------------------------------ refusals

describe("TLRWBK01 refusals", () => {
  const text = sampleJson();
  const file = encryptBackupBytes(text, SEED);
  const decrypt = (bytes: Uint8Array, gzip?: GzipImplementation) => () => decryptBackupBytes(bytes, SEED, { gzip });

  it("a wrong key: backup-decrypt-failed, naming Poly1305", () => {
    expect(codeOf(() => decryptBackupBytes(file, OTHER_SEED))).toBe("backup-decrypt-failed");
    expect(codeOf(() => decryptBackupFile(file, encodeCrock(OTHER_SEED)))).toBe("backup-decrypt-failed");
    expect(() => decryptBackupBytes(file, OTHER_SEED)).toThrow(/Poly1305/);
  });

  it("a wrong magic: backup-bad-magic", () => {
    expect(codeOf(decrypt(concat(utf8.encode("TLRWBK02"), file.subarray(8))))).toBe("backup-bad-magic");
    expect(codeOf(decrypt(nodeZlibGzip.gzip(utf8.encode(text))))).toBe("backup-bad-magic"); // a bare gzip
    expect(codeOf(decrypt(utf8.encode(text)))).toBe("backup-bad-magic"); // plain JSON
    expect(codeOf(decrypt(utf8.encode("tlrwbk01")))).toBe("backup-bad-magic"); // the magic is case-sensitive
    expect(codeOf(decrypt(Uint8Array.of(0x54, 0x4c, 0x00)))).toBe("backup-bad-magic"); // wrong within a short prefix
  });

  it("empty or cut short before nonce and tag are complete: backup-truncated", () => {
    for (const n of [0, 1, 4, 7, 8, 9, 20, 31, 32, 33, 40, 47]) {
      expect(codeOf(decrypt(file.subarray(0, n))), `cut at ${n}`).toBe("backup-truncated");
    }
  });

  it("cut anywhere in the ciphertext: backup-decrypt-failed", () => {
    for (const n of [48, 49, Math.floor(file.length / 2), file.length - 1]) {
      expect(codeOf(decrypt(file.subarray(0, n))), `cut at ${n}`).toBe("backup-decrypt-failed");
    }
  });

  it("any flipped byte: in the magic backup-bad-magic, in nonce, tag or body backup-decrypt-failed", () => {
    const classes: [string, number[], string][] = [
      ["magic", [0, 3, 7], "backup-bad-magic"],
      ["nonce", [8, 20, 31], "backup-decrypt-failed"],
      ["tag", [32, 40, 47], "backup-decrypt-failed"],
      ["body", [48, Math.floor(file.length / 2), file.length - 1], "backup-decrypt-failed"],
    ];
    for (const [where, positions, code] of classes) {
      for (const i of positions) {
        for (const mask of [0x01, 0x80, 0xff]) {
          expect(codeOf(decrypt(flipped(file, i, mask))), `${where} byte ${i} ^ ${mask}`).toBe(code);
        }
      }
    }
  });

  it("appended bytes: backup-decrypt-failed", () => {
    expect(codeOf(decrypt(concat(file, Uint8Array.of(0))))).toBe("backup-decrypt-failed");
  });

  it("authentic but not gzip (garbage, empty, cut, bad CRC, trailing bytes): backup-bad-gzip with either gzip", () => {
    const gz = fflateGzipSync(utf8.encode(text), { mtime: 0 });
    const contents: [string, Uint8Array][] = [
      ["garbage", utf8.encode("this is not gzip at all, just text")],
      ["empty", new Uint8Array(0)],
      ["plain JSON", utf8.encode(text)],
      ["cut gzip", gz.subarray(0, gz.length - 5)],
      ["gzip without trailer", gz.subarray(0, gz.length - 8)],
      ["bad CRC", flipped(gz, gz.length - 8)],
      ["bad ISIZE", flipped(gz, gz.length - 1)],
      ["a flipped deflate byte", flipped(gz, 20)],
      ["trailing zero", concat(gz, Uint8Array.of(0))],
      ["trailing garbage", concat(gz, utf8.encode("junk"))],
      ["a second member cut short", concat(gz, gz.subarray(0, 12))],
    ];
    for (const [what, content] of contents) {
      for (const gzip of IMPLS) {
        expect(codeOf(decrypt(refSeal(content, SEED), gzip)), `${what} via ${gzip}`).toBe("backup-bad-gzip");
      }
    }
  });

  it("a gzip bomb of a few KB: backup-too-large with either gzip, before inflating it", () => {
    const bomb = zlib.gzipSync(new Uint8Array(8 << 20), { level: 9 }); // 8 MiB of zeros
    expect(bomb.length).toBeLessThan(10_000);
    const sealed = refSeal(bomb, SEED);
    for (const gzip of IMPLS) {
      expect(codeOf(() => decryptBackupBytes(sealed, SEED, { gzip, maxPlainBytes: 1 << 20 })), gzip).toBe("backup-too-large");
      // It is a genuine gzip: with room enough it inflates (to zeros, which are not JSON).
      expect(codeOf(() => decryptBackupBytes(sealed, SEED, { gzip, maxPlainBytes: 8 << 20 })), gzip).toBeUndefined();
    }
  });

  it("a gzip bomb of 1 GiB: refused without the process growing anywhere near that", () => {
    const bomb = zeroBomb(1024);
    expect(bomb.length).toBeLessThan(2 << 20);
    const sealed = refSeal(bomb, SEED);
    const bound = 32 << 20;
    for (const gzip of IMPLS) {
      const before = process.resourceUsage().maxRSS * 1024; // peak resident set, bytes
      expect(codeOf(() => decryptBackupBytes(sealed, SEED, { gzip, maxPlainBytes: bound })), gzip).toBe("backup-too-large");
      const grown = process.resourceUsage().maxRSS * 1024 - before;
      expect(grown, `${gzip}: peak RSS grew by ${grown} bytes`).toBeLessThan(4 * bound); // inflated: 1 GiB = 32 bounds
    }
  });

  it("authentic content that is not UTF-8 JSON: backup-bad-json", () => {
    const notJson = refSeal(fflateGzipSync(utf8.encode("{not json")), SEED);
    expect(decryptBackupBytes(notJson, SEED)).toBe("{not json");
    expect(codeOf(() => decryptBackupFile(notJson, SEED_CROCK))).toBe("backup-bad-json");
    const notUtf8 = refSeal(fflateGzipSync(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)), SEED);
    expect(codeOf(() => decryptBackupBytes(notUtf8, SEED))).toBe("backup-bad-json");
    const withBom = refSeal(fflateGzipSync(concat(Uint8Array.of(0xef, 0xbb, 0xbf), utf8.encode("{}"))), SEED);
    expect(codeOf(() => decryptBackupFile(withBom, SEED_CROCK))).toBe("backup-bad-json");
  });

  it("JSON that is not an object: backup-bad-json", () => {
    for (const content of ["[]", "null", "42", '"text"', "true", "[{}]"]) {
      expect(codeOf(() => decryptBackupFile(refEncrypt(content, SEED), SEED_CROCK)), content).toBe("backup-bad-json");
      expect(codeOf(() => parseBackupJson(content)), content).toBe("backup-bad-json");
    }
  });

  it("a walletRootPriv or root seed that is not 32 bytes of Crockford: backup-key-invalid", () => {
    const bad: unknown[] = ["", SEED_CROCK.slice(1), SEED_CROCK + "0", "!".repeat(52), `${SEED_CROCK.slice(0, 51)} `, 42, undefined, SEED];
    for (const priv of bad) expect(codeOf(() => decryptBackupFile(file, priv as string)), String(priv)).toBe("backup-key-invalid");
    for (const seed of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      expect(codeOf(() => decryptBackupBytes(file, seed))).toBe("backup-key-invalid");
      expect(codeOf(() => encryptBackupBytes(text, seed))).toBe("backup-key-invalid");
      expect(codeOf(() => deriveBlobSecret(seed))).toBe("backup-key-invalid");
    }
  });

  it("misuse of the API: backup-invalid-argument", () => {
    expect(codeOf(() => encryptBackupBytes(text, SEED, { nonce: new Uint8Array(23) }))).toBe("backup-invalid-argument");
    expect(codeOf(() => encryptBackupBytes(text, SEED, { gzip: "brotli" as GzipImplementation }))).toBe("backup-invalid-argument");
    expect(codeOf(() => encryptBackupBytes(42 as unknown as string, SEED))).toBe("backup-invalid-argument");
    expect(codeOf(() => decryptBackupBytes(file, SEED, { maxPlainBytes: -1 }))).toBe("backup-invalid-argument");
    expect(codeOf(() => decryptBackupBytes(file, SEED, { maxPlainBytes: 1.5 }))).toBe("backup-invalid-argument");
    expect(codeOf(() => decryptBackupBytes(file, SEED, { maxPlainBytes: 2 ** 40 }))).toBe("backup-invalid-argument");
    expect(codeOf(() => decryptBackupBytes("TLRWBK01" as unknown as Uint8Array, SEED))).toBe("backup-invalid-argument");
  });

  it("a text the format cannot carry is refused when writing, not garbled", () => {
    expect(codeOf(() => encryptBackupBytes('{"a":"\ud800"}', SEED))).toBe("backup-bad-json");
    expect(codeOf(() => encryptBackupBytes(text, SEED, { maxPlainBytes: 100 }))).toBe("backup-too-large");
  });
});

// ------------------------------------------------------------ the two gzips

describe("gzip: fflate and node:zlib", () => {
  const plain = utf8.encode(sampleJson().repeat(20));

  it("write standard gzip that the other implementation, and each library on its own, reads", () => {
    for (const writer of CODECS) {
      const gz = writer.gzip(plain);
      for (const reader of CODECS) expect(hex(reader.gunzip(gz, plain.length)), `${writer.name} → ${reader.name}`).toBe(hex(plain));
      expect(hex(fflateGunzipSync(gz))).toBe(hex(plain));
      expect(hex(zlib.gunzipSync(gz))).toBe(hex(plain));
    }
    expect(hex(fflateGzip.gunzip(zlib.gzipSync(plain, { level: 9 }), plain.length))).toBe(hex(plain));
    expect(hex(nodeZlibGzip.gunzip(fflateGzipSync(plain, { level: 1 }), plain.length))).toBe(hex(plain));
  });

  it("agree on what is gzip: members, header fields, trailers, trailing bytes", () => {
    const a = fflateGzip.gzip(utf8.encode('{"a":1}'.repeat(50)));
    const b = nodeZlibGzip.gzip(utf8.encode('{"b":2}'));
    const ab = 350 + 7;
    const emptyMember = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const header = (flags: number, ...fields: Uint8Array[]) => concat(Uint8Array.of(0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3), ...fields);
    const withHeaderCrc = (() => {
      const h = header(2 | 16, utf8.encode("a comment\0"));
      const crc = zlib.crc32(h) & 0xffff;
      return concat(h, Uint8Array.of(crc & 0xff, crc >> 8), a.subarray(10));
    })();
    const headerCrcAt = 10 + "a comment\0".length;
    const cases: [string, Uint8Array, number | "backup-bad-gzip"][] = [
      ["one member", a, 350],
      ["two members", concat(a, b), ab],
      ["three members", concat(b, a, b), ab + 7],
      ["an empty member after", concat(a, emptyMember), 350],
      ["file name", header(8, utf8.encode("name.json\0"), a.subarray(10)), 350],
      ["extra field", header(4, Uint8Array.of(4, 0, 1, 2, 3, 4), a.subarray(10)), 350],
      ["header CRC", withHeaderCrc, 350],
      ["wrong header CRC", flipped(withHeaderCrc, headerCrcAt), "backup-bad-gzip"],
      ["reserved flag", header(0x20, a.subarray(10)), "backup-bad-gzip"],
      ["method 7", (() => { const x = a.slice(); x[2] = 7; return x; })(), "backup-bad-gzip"],
      ["extra field past the end", header(4, Uint8Array.of(200, 0, 1), a.subarray(10)), "backup-bad-gzip"],
      ["unterminated name", header(8, utf8.encode("abc")), "backup-bad-gzip"],
      ["empty", new Uint8Array(0), "backup-bad-gzip"],
      ["header only", a.subarray(0, 10), "backup-bad-gzip"],
      ["not gzip", utf8.encode("hello, not gzip"), "backup-bad-gzip"],
      ...[1, 3, 4, 100].map((n): [string, Uint8Array, "backup-bad-gzip"] => [`${n} trailing zero bytes`, concat(a, new Uint8Array(n)), "backup-bad-gzip"]),
      ["trailing garbage", concat(a, utf8.encode("garbage!")), "backup-bad-gzip"],
      ["trailing 1f 8b", concat(a, Uint8Array.of(0x1f, 0x8b)), "backup-bad-gzip"],
      ["trailing partial header", concat(a, Uint8Array.of(0x1f, 0x8b, 8, 0)), "backup-bad-gzip"],
      ["zero padding between members", concat(a, new Uint8Array(3), b), "backup-bad-gzip"],
      ["second member's CRC wrong", concat(a, flipped(b, b.length - 8)), "backup-bad-gzip"],
      ["CRC wrong", flipped(a, a.length - 8), "backup-bad-gzip"],
      ["ISIZE wrong", flipped(a, a.length - 2), "backup-bad-gzip"],
      ...[1, 4, 8, 9].map((n): [string, Uint8Array, "backup-bad-gzip"] => [`${n} bytes cut off`, a.subarray(0, a.length - n), "backup-bad-gzip"]),
    ];
    for (const [what, gz, want] of cases) {
      for (const c of CODECS) {
        const got = (() => {
          try {
            return c.gunzip(gz, 1 << 20).length;
          } catch (e) {
            return codeOf(() => {
              throw e;
            });
          }
        })();
        expect(got, `${what} via ${c.name}`).toBe(want);
      }
    }
  });

  it("the JS CRC-32 of the fflate path is gzip's: the check value, and zlib's on any bytes and any split", () => {
    expect(crc32(utf8.encode("123456789")).toString(16)).toBe("cbf43926");
    expect(crc32(new Uint8Array(0))).toBe(0);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, cut) => {
        const at = bytes.length === 0 ? 0 : cut % bytes.length;
        expect(crc32(bytes)).toBe(zlib.crc32(bytes));
        expect(crc32(bytes.subarray(at), crc32(bytes.subarray(0, at)))).toBe(zlib.crc32(bytes));
      }),
    );
  });

  it("each stops at the bound across members too", () => {
    const gz = concat(...Array.from({ length: 4 }, () => nodeZlibGzip.gzip(new Uint8Array(1000))));
    for (const c of CODECS) {
      expect(c.gunzip(gz, 4000).length).toBe(4000);
      expect(codeOf(() => c.gunzip(gz, 3999)), c.name).toBe("backup-too-large");
    }
  });
});

// ------------------------------------------------------------ properties

describe("TLRWBK01 properties", () => {
  const jsonObject = fc.dictionary(fc.string({ unit: "binary", maxLength: 12 }), fc.jsonValue({ stringUnit: "binary", maxDepth: 4 }), { maxKeys: 8 });

  it("decrypt(encrypt(x)) is x's canonical JSON text, and any single flipped byte is refused", () => {
    fc.assert(
      fc.property(
        jsonObject,
        fc.constantFrom(...IMPLS),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (value, gzip, at, mask) => {
          const text = canonicalJson(value);
          const file = encryptBackupBytes(text, SEED, { gzip });
          expect(decryptBackupBytes(file, SEED, { gzip })).toBe(text);
          expect(decryptBackupFile(file, SEED_CROCK)).toEqual(JSON.parse(text));
          const i = at % file.length;
          expect(codeOf(() => decryptBackupBytes(flipped(file, i, mask), SEED, { gzip }))).toBe(
            i < 8 ? "backup-bad-magic" : "backup-decrypt-failed",
          );
        },
      ),
      { numRuns: PROPERTY_RUNS },
    );
  });
});
