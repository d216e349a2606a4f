import type { Metadata } from "next";
import { connection } from "next/server";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "X-ray labels", template: "%s · X-ray labels" },
  description: "Turn unlabelled X-rays into diagnosis models with few expert labels",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Every page renders per request, so Next can put the request's CSP nonce (src/proxy.ts) on its
  // scripts: a prerendered page would carry inline scripts without it, which the policy blocks.
  await connection();
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
