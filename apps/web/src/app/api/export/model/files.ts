import type { Storage } from "@xray/storage";

/** The TF.js files of a version: model.json, the weight shards it names, and metadata.json. */
export async function modelFiles(storage: Storage, artifactKey: string): Promise<string[]> {
  const files = ["model.json"];
  const model: unknown = JSON.parse((await storage.read(`${artifactKey}/model.json`)).toString("utf8"));
  const manifest = typeof model === "object" && model !== null ? Reflect.get(model, "weightsManifest") : null;
  if (Array.isArray(manifest))
    for (const group of manifest) {
      const paths: unknown = typeof group === "object" && group !== null ? Reflect.get(group, "paths") : null;
      if (Array.isArray(paths)) for (const p of paths) if (typeof p === "string") files.push(p);
    }
  if (await storage.exists(`${artifactKey}/metadata.json`)) files.push("metadata.json");
  return [...new Set(files)];
}
