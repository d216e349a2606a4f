import { can } from "@xray/auth/permissions";
import { DEFAULT_CANINE_MSK_SCHEMA, KNEE_KL_SCHEMA } from "@xray/core/datasets";
import type { Metadata } from "next";
import { requireAction } from "@/server/guard";
import { withApi } from "@/server/trpc";
import { DatasetsAdmin } from "./datasets-admin";

export const metadata: Metadata = { title: "Manage datasets" };

export default async function DatasetsPage() {
  const user = await requireAction("datasets.settings");
  const datasets = await withApi((api) => api.datasets.list());
  return (
    <>
      <h1>Datasets</h1>
      <DatasetsAdmin
        datasets={datasets}
        canManage={can(user.role, "datasets.manage")}
        presets={{
          "Canine musculoskeletal (7 findings)": DEFAULT_CANINE_MSK_SCHEMA,
          "Knee KL grades": KNEE_KL_SCHEMA,
        }}
      />
    </>
  );
}
