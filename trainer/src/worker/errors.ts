import type { Storage } from "@xray/storage";

/**
 * A model version's files are gone from storage (deleted, or a storage folder not shared with this
 * worker). Not retryable: running the job again finds the same files missing, so the round fails with
 * this message and the job is not tried again.
 */
export class ArtifactsMissingError extends Error {
  readonly retryable = false;
  constructor(
    readonly versionId: string,
    readonly versionNumber: number,
    readonly artifactKey: string,
    readonly missing: string[],
    purpose: string,
  ) {
    super(
      `the model files of version ${versionNumber} are missing from storage (${missing.join(", ")} under ` +
        `${artifactKey}), so ${purpose} cannot run: restore them from a backup, or start a round ` +
        "that does not use this version",
    );
    this.name = "ArtifactsMissingError";
  }
}

/**
 * Checks that a version's TF.js files are all in storage (model.json, metadata.json and every weight
 * shard model.json names) before a job loads them; throws ArtifactsMissingError naming the missing ones.
 */
export async function assertArtifacts(
  storage: Storage,
  version: { id: string; number: number; artifactKey: string },
  purpose: string,
): Promise<void> {
  const key = version.artifactKey;
  const missing: string[] = [];
  for (const name of ["model.json", "metadata.json"])
    if (!(await storage.exists(`${key}/${name}`).catch(() => false))) missing.push(name);
  if (!missing.includes("model.json")) {
    let shards: string[] = [];
    try {
      const model: unknown = JSON.parse((await storage.read(`${key}/model.json`)).toString("utf8"));
      const manifest =
        typeof model === "object" && model !== null ? Reflect.get(model, "weightsManifest") : null;
      if (Array.isArray(manifest))
        shards = manifest.flatMap((g: unknown) => {
          const paths = typeof g === "object" && g !== null ? Reflect.get(g, "paths") : null;
          return Array.isArray(paths) ? paths.filter((p): p is string => typeof p === "string") : [];
        });
    } catch {
      missing.push("model.json (unreadable)");
    }
    for (const shard of shards)
      if (!(await storage.exists(`${key}/${shard}`).catch(() => false))) missing.push(shard);
  }
  if (missing.length > 0) throw new ArtifactsMissingError(version.id, version.number, key, missing, purpose);
}
