import { randomBytes as nodeRandomBytes } from "node:crypto";
import nacl from "tweetnacl";
import { describeValue, WalletError } from "../errors.ts";
import { requireBytes } from "./byte-input.ts";

function checkSeed(seed: Uint8Array): void {
  if (!(seed instanceof Uint8Array)) throw new WalletError("key-invalid-seed", `an Ed25519 seed is 32 bytes (a Uint8Array), got ${describeValue(seed)}`);
  if (seed.length !== 32) {
    throw new WalletError("key-invalid-seed", `an Ed25519 seed is 32 bytes, got ${seed.length}`, { length: seed.length });
  }
}

/** The Ed25519 public key (32 bytes) of a 32-byte private seed. */
export function eddsaPublicFromSeed(seed: Uint8Array): Uint8Array {
  checkSeed(seed);
  return nacl.sign.keyPair.fromSeed(seed).publicKey;
}

/** Detached Ed25519 signature (64 bytes) of `message` by the key with this seed. */
export function eddsaSign(message: Uint8Array, seed: Uint8Array): Uint8Array {
  checkSeed(seed);
  return nacl.sign.detached(requireBytes(message, "eddsaSign's message"), nacl.sign.keyPair.fromSeed(seed).secretKey);
}

/** True iff `sig` is a valid Ed25519 signature of `message` by `pub`; malformed inputs are simply invalid. */
export function eddsaVerify(message: Uint8Array, sig: Uint8Array, pub: Uint8Array): boolean {
  // tweetnacl throws on wrong lengths; a verifier should answer "no" rather than crash on hostile input.
  if (!(sig instanceof Uint8Array) || !(pub instanceof Uint8Array) || sig.length !== 64 || pub.length !== 32) return false;
  return nacl.sign.detached.verify(requireBytes(message, "eddsaVerify's message"), sig, pub);
}

/** `n` cryptographically secure random bytes. */
export function randomBytes(n: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(n));
}
