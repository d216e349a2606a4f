/**
 * The portal's security headers (docs/security.md). The Content-Security-Policy of pages and API
 * answers is set per request by the proxy (src/proxy.ts) with a fresh nonce: Next puts that nonce on
 * every script it renders, and 'strict-dynamic' lets those scripts load the app's chunks. No inline
 * script without the nonce runs, and no foreign origin or eval ('unsafe-eval' only under `next dev`,
 * for React refresh). Everything else is locked to this origin, and nobody may frame the portal.
 */

/** 16 random bytes, base64: a new one for every response. */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

/**
 * The policy. With a nonce (pages): scripts need it. Without one (files under /_next/, which the proxy
 * does not see): only this origin's script files, never an inline one.
 *
 * style-src keeps 'unsafe-inline': React renders `style` attributes into the server HTML (charts,
 * the viewer's layout, progress bars) and a nonce cannot cover an attribute; styles cannot run code.
 */
export function contentSecurityPolicy(opts: { nonce: string | null; dev: boolean }): string {
  const scripts = opts.nonce ? ["'self'", `'nonce-${opts.nonce}'`, "'strict-dynamic'"] : ["'self'"];
  if (opts.dev) scripts.push("'unsafe-eval'");
  return [
    "default-src 'self'",
    `script-src ${scripts.join(" ")}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${opts.dev ? " ws: wss:" : ""}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The headers that are the same on every response (next.config.ts sets them on all paths). */
export function staticSecurityHeaders(): { key: string; value: string }[] {
  return [
    { key: "X-Frame-Options", value: "DENY" },
    { key: "X-Content-Type-Options", value: "nosniff" },
    { key: "Referrer-Policy", value: "same-origin" },
    { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=(), usb=()" },
    { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
  ];
}

/**
 * Everything a response carries, for a given nonce (null: a static file under /_next/). The proxy
 * adds the CSP; next.config.ts adds the rest.
 */
export function securityHeaders(dev: boolean, nonce: string | null = null): { key: string; value: string }[] {
  return [
    { key: "Content-Security-Policy", value: contentSecurityPolicy({ nonce, dev }) },
    ...staticSecurityHeaders(),
  ];
}
