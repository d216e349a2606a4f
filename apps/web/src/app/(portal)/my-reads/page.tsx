import type { Metadata } from "next";
import { withApi } from "@/server/trpc";
import { MyReads } from "./my-reads";
import "../read/workspace.css";

export const metadata: Metadata = { title: "My reads" };

export default async function MyReadsPage() {
  const datasets = await withApi((api) => api.datasets.list());
  return (
    <MyReads datasets={datasets.map((d) => ({ id: d.id, name: d.name, findings: d.labelSchema.findings }))} />
  );
}
