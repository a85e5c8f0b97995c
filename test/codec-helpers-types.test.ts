// The exported codec helpers (CONTRACT.md: encodeCrock, decodeCrock, kdf; also sha512 and the EdDSA
// helpers) refuse a value of the wrong type, as a JavaScript host can pass one, with a WalletError code:
// they threw raw TypeErrors, or (encodeCrock) silently encoded garbage. Found by review.
import { describe, expect, it } from "vitest";
import { decodeCrock, eddsaPublicFromSeed, eddsaSign, eddsaVerify, encodeCrock, kdf, sha512 } from "../src/index.ts";
import { codeOf } from "./support/error-code.ts";

const any = (x: unknown) => x as never;
const isWalletCode = (c: string | undefined) => c !== undefined && !c.startsWith("non-wallet-error:");

describe("the exported encoding helpers refuse wrong types with a WalletError", () => {
  it.each([
    ["decodeCrock(42)", () => decodeCrock(any(42))],
    ["decodeCrock(null)", () => decodeCrock(any(null))],
    ["decodeCrock(undefined)", () => decodeCrock(any(undefined))],
  ])("%s", (_, f) => {
    const code = codeOf(f);
    expect(isWalletCode(code), String(code)).toBe(true);
  });

  it.each([
    ["encodeCrock(null)", () => encodeCrock(any(null))],
    ["encodeCrock(\"abc\")", () => encodeCrock(any("abc"))],
    ["encodeCrock([1, 2, 300])", () => encodeCrock(any([1, 2, 300]))],
  ])("%s", (_, f) => {
    const code = codeOf(f);
    expect(isWalletCode(code), String(code)).toBe(true);
  });

  it.each([
    ["kdf(32, \"abc\")", () => kdf(32, any("abc"))],
    ["kdf(32, null)", () => kdf(32, any(null))],
    ["kdf(32, ikm, undefined, 5)", () => kdf(32, new Uint8Array(4), undefined, any(5))],
    ["kdf(32, ikm, {}, \"i\")", () => kdf(32, new Uint8Array(4), any({}), "i")],
  ])("%s", (_, f) => {
    const code = codeOf(f);
    expect(isWalletCode(code), String(code)).toBe(true);
  });
});

describe("the other exported key and hash helpers", () => {
  it.each([
    ["sha512(null)", () => sha512(any(null))],
    ["eddsaSign(null, seed)", () => eddsaSign(any(null), new Uint8Array(32))],
    ["eddsaSign(message, [..32 numbers])", () => eddsaSign(new Uint8Array(1), any(Array(32).fill(0)))],
    ["eddsaPublicFromSeed(null)", () => eddsaPublicFromSeed(any(null))],
  ])("%s", (_, f) => {
    const code = codeOf(f);
    expect(isWalletCode(code), String(code)).toBe(true);
  });

  it("eddsaVerify answers false for malformed signature or key, and refuses a message that is not bytes", () => {
    expect(eddsaVerify(new Uint8Array(1), any(null), new Uint8Array(32))).toBe(false);
    expect(eddsaVerify(new Uint8Array(1), new Uint8Array(64), any("x".repeat(32)))).toBe(false);
    expect(codeOf(() => eddsaVerify(any(null), new Uint8Array(64), new Uint8Array(32)))).toBe("encoding-invalid-bytes");
  });

  it("bytes and strings still work", () => {
    expect(encodeCrock(new Uint8Array([1, 2, 3]))).toBe("04106");
    expect(sha512("abc")).toEqual(sha512(new TextEncoder().encode("abc")));
    expect(kdf(32, new Uint8Array(4), "salt", new Uint8Array(2)).length).toBe(32);
  });
});
