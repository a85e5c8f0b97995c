import { WalletError } from "../errors.ts";

/**
 * Canonical form of an exchange or provider base URL: `https://` added when no
 * scheme is given (an explicit `http://` is kept: tests run on loopback), host
 * lower-cased by URL parsing, path ending in `/`, no query, fragment or
 * credentials. Anything else is a WalletError `url-invalid`.
 */
export function canonicalizeBaseUrl(input: string): string {
  if (typeof input !== "string" || input.trim() === "") {
    throw new WalletError("url-invalid", "a base URL must be a non-empty string");
  }
  const shown = JSON.stringify(withoutCredentials(input));
  let text = input.trim();
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(text)) text = `https://${text}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new WalletError("url-invalid", `not a valid URL: ${shown}`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    throw new WalletError("url-invalid", `unsupported URL scheme ${u.protocol} in ${shown}`);
  }
  if (u.hostname === "") throw new WalletError("url-invalid", `no host in ${shown}`);
  if (u.username !== "" || u.password !== "") {
    throw new WalletError("url-invalid", `credentials are not allowed in a base URL: ${shown}`);
  }
  let path = u.pathname;
  if (!path.endsWith("/")) path += "/";
  return `${u.protocol}//${u.host}${path}`;
}

/**
 * The input as an error may quote it: a password in it (user:password@) would reach logs and callers'
 * screens. Everything up to the last `@` goes, so a password holding `@` or `/` goes whole too.
 */
function withoutCredentials(input: string): string {
  return input.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)?[^]*@/, "$1***@");
}
