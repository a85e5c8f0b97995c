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
  let text = input.trim();
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(text)) text = `https://${text}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new WalletError("url-invalid", `not a valid URL: ${JSON.stringify(input)}`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    throw new WalletError("url-invalid", `unsupported URL scheme ${u.protocol} in ${JSON.stringify(input)}`);
  }
  if (u.hostname === "") throw new WalletError("url-invalid", `no host in ${JSON.stringify(input)}`);
  if (u.username !== "" || u.password !== "") {
    throw new WalletError("url-invalid", `credentials are not allowed in a base URL: ${JSON.stringify(input)}`);
  }
  let path = u.pathname;
  if (!path.endsWith("/")) path += "/";
  return `${u.protocol}//${u.host}${path}`;
}
