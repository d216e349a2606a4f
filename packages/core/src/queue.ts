/**
 * The annotator queue: "next image for me". One image is held by at most one annotator at a time
 * (leases.image_id is the primary key), an annotator never gets an image they already read or
 * skipped, and the highest priority goes first (images.priority, written by priorities.ts).
 *
 * Concurrency: the candidate is chosen and leased in ONE statement. `FOR UPDATE SKIP LOCKED` on the
 * image row makes concurrent callers walk past each other's candidates instead of queueing on them;
 * the lease primary key (INSERT ... ON CONFLICT DO UPDATE ... WHERE the old lease expired) is what
 * guarantees that two callers never hold the same image, even when a caller's snapshot predates
 * another's commit. A caller who loses that race retries with a fresh snapshot.
 *
 * Speed: the candidate scan walks the partial index images_queue_idx (dataset_id, priority desc nulls
 * last, id) WHERE reads_needed > 0 in order (the ORDER BY must say NULLS LAST to match it, although
 * priority is never null; plain DESC means NULLS FIRST and makes the planner sort the whole pool) and stops at the first row that passes two index probes
 * (reads_image_user_idx and the leases primary key), so its cost does not grow with the pool size.
 */
import type { DbOrTx } from "@xray/db";
import { sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound, ServiceError } from "./errors";

export interface QueueImage {
  id: string;
  datasetId: string;
  normalizedKey: string;
  thumbnailKey: string;
  width: number;
  height: number;
  species: string | null;
  bodyPart: string | null;
  view: string | null;
  priority: number;
}

export interface QueueItem {
  image: QueueImage;
  leaseExpiresAt: Date;
  /** True when this was the caller's own unexpired lease (a reload), renewed rather than newly taken. */
  resumed: boolean;
}

export interface NextImageOptions {
  actor: Actor;
  datasetId: string;
}

interface ImageRow {
  id: string;
  dataset_id: string;
  normalized_key: string;
  thumbnail_key: string;
  width: number;
  height: number;
  species: string | null;
  body_part: string | null;
  view: string | null;
  priority: number;
}

const imageSelect = sql.raw(
  "i.id, i.dataset_id, i.normalized_key, i.thumbnail_key, i.width, i.height, i.species, i.body_part, i.view, i.priority",
);

function toQueueImage(r: ImageRow): QueueImage {
  return {
    id: r.id,
    datasetId: r.dataset_id,
    normalizedKey: r.normalized_key,
    thumbnailKey: r.thumbnail_key,
    width: r.width,
    height: r.height,
    species: r.species,
    bodyPart: r.body_part,
    view: r.view,
    priority: r.priority,
  };
}

type Nullable<T> = { [K in keyof T]: T[K] | null };

/**
 * One statement, one round trip: renew the caller's oldest unexpired lease in the dataset that still
 * needs their read; if there is none, choose the best free image (SKIP LOCKED), lease it and audit
 * the lease. Also returns the dataset's lease time (null: no such dataset) and the candidate id, so a
 * candidate without a lease means a concurrent caller won the race for it.
 */
async function leaseStatement(db: DbOrTx, actor: Actor, datasetId: string) {
  const res = await db.execute<
    {
      lease_minutes: number | null;
      candidate: string | null;
      resumed: boolean | null;
      expires_at: Date | null;
    } & Nullable<ImageRow>
  >(sql`
    with ds as (select lease_minutes from datasets where id = ${datasetId}),
    held as (
      select l.image_id from leases l
      join images i on i.id = l.image_id
      where l.user_id = ${actor.id} and l.dataset_id = ${datasetId} and l.expires_at > now()
        and i.reads_needed > 0
        and not exists (select 1 from reads r where r.image_id = l.image_id and r.user_id = ${actor.id})
      order by l.created_at, l.image_id
      limit 1
      for update of l
    ), renewed as (
      update leases set expires_at = now() + make_interval(mins => (select lease_minutes from ds))
      from held
      where leases.image_id = held.image_id and leases.user_id = ${actor.id}
      returning leases.image_id, leases.expires_at
    ), candidate as (
      select i.id from images i
      where i.dataset_id = ${datasetId} and i.reads_needed > 0
        and not exists (select 1 from held) and exists (select 1 from ds)
        and not exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${actor.id})
        and not exists (select 1 from leases l where l.image_id = i.id and l.expires_at > now())
      order by i.priority desc nulls last, i.id
      limit 1
      for update of i skip locked
    ), taken as (
      insert into leases (image_id, user_id, dataset_id, expires_at, created_at)
      select id, ${actor.id}, ${datasetId}, now() + make_interval(mins => (select lease_minutes from ds)), now()
      from candidate
      on conflict (image_id) do update
        set user_id = excluded.user_id, dataset_id = excluded.dataset_id,
            expires_at = excluded.expires_at, created_at = excluded.created_at
        where leases.expires_at <= now()
      returning image_id, expires_at
    ), audited as (
      insert into audit_events (actor_id, action, resource_type, resource_id, dataset_id, details)
      select ${actor.id}, 'lease.take', 'image', image_id::text, ${datasetId},
        jsonb_build_object('expiresAt', expires_at)
      from taken
    ), result as (
      select image_id, expires_at, true as resumed from renewed
      union all
      select image_id, expires_at, false from taken
    )
    select (select lease_minutes from ds) as lease_minutes, (select id from candidate) as candidate,
      result.resumed, result.expires_at, ${imageSelect}
    from (select 1) one
    left join result on true
    left join images i on i.id = result.image_id`);
  return res.rows[0];
}

const MAX_ATTEMPTS = 16;

/**
 * The next image for this annotator, leased to them for the dataset's lease time. Returns the
 * caller's own unexpired lease first (renewed), so reloading the page never burns images.
 * Null when nothing is left for this annotator. One atomic statement per attempt (no explicit
 * transaction); a second attempt only follows a lost race for the same candidate.
 */
export async function nextImage(db: DbOrTx, opts: NextImageOptions): Promise<QueueItem | null> {
  const { actor, datasetId } = opts;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const row = await leaseStatement(db, actor, datasetId);
    if (!row || row.lease_minutes === null) throw notFound("dataset");
    if (row.id !== null && row.expires_at !== null)
      return {
        image: toQueueImage(row as ImageRow),
        leaseExpiresAt: new Date(row.expires_at),
        resumed: row.resumed === true,
      };
    if (row.candidate === null) return null;
  }
  // Only reachable under extreme contention on the very top of the queue. Not null: that would
  // tell the annotator the queue is empty when it is not.
  throw new ServiceError("CONFLICT", "the queue is busy right now; ask again");
}

export interface PeekNextOptions {
  actor: Actor;
  datasetId: string;
  /** Images to leave out besides leased ones (the caller's own leases are left out anyway). */
  excludeImageIds?: string[];
}

/**
 * Prefetch hint: the image the annotator would most likely get after the current one. It takes no
 * lease (leasing two would hide images from the other annotators for a whole lease time), so it is
 * advisory: by the time they ask, someone else may have taken it, and nextImage then returns another
 * image. The client should prefetch the bytes of this image and fall back to a normal load otherwise.
 */
export async function peekNext(db: DbOrTx, opts: PeekNextOptions): Promise<string | null> {
  const { actor, datasetId } = opts;
  const exclude = opts.excludeImageIds ?? [];
  const res = await db.execute<{ id: string }>(sql`
    select i.id from images i
    where i.dataset_id = ${datasetId} and i.reads_needed > 0
      and not exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${actor.id})
      and not exists (select 1 from leases l where l.image_id = i.id and l.expires_at > now())
      and i.id <> all(${`{${exclude.join(",")}}`}::uuid[])
    order by i.priority desc nulls last, i.id
    limit 1`);
  return res.rows[0]?.id ?? null;
}

export interface ReleaseLeaseOptions {
  actor: Actor;
  imageId: string;
}

/** Gives the image back to the queue (the annotator closed it without reading). False if not held. */
export async function releaseLease(db: DbOrTx, opts: ReleaseLeaseOptions): Promise<boolean> {
  return await db.transaction(async (tx) => {
    const res = await tx.execute<{ dataset_id: string }>(sql`
      delete from leases where image_id = ${opts.imageId} and user_id = ${opts.actor.id} and expires_at > now()
      returning dataset_id`);
    const row = res.rows[0];
    if (!row) return false;
    await recordAudit(tx, {
      actorId: opts.actor.id,
      action: "lease.release",
      resourceType: "image",
      resourceId: opts.imageId,
      datasetId: row.dataset_id,
    });
    return true;
  });
}

/** The caller's unexpired leases (image ids with expiry), oldest first. */
export async function myLeases(
  db: DbOrTx,
  opts: { actor: Actor; datasetId?: string },
): Promise<{ imageId: string; datasetId: string; expiresAt: Date }[]> {
  const res = await db.execute<{ image_id: string; dataset_id: string; expires_at: Date }>(sql`
    select image_id, dataset_id, expires_at from leases
    where user_id = ${opts.actor.id} and expires_at > now()
      ${opts.datasetId ? sql`and dataset_id = ${opts.datasetId}` : sql``}
    order by created_at, image_id`);
  return res.rows.map((r) => ({
    imageId: r.image_id,
    datasetId: r.dataset_id,
    expiresAt: new Date(r.expires_at),
  }));
}

/**
 * Recomputes readsNeeded for every image of the dataset from its reads-per-image setting (after a
 * lead changes it): reads-per-image minus the image's reads (skips do not count), 0 once a lead has
 * adjudicated it. Returns the number of images whose value changed. Audited.
 */
export async function syncReadsNeeded(
  db: DbOrTx,
  opts: { datasetId: string; actor: Actor | null },
): Promise<number> {
  return await db.transaction(async (tx) => {
    const res = await tx.execute<{ n: string }>(sql`
      with wanted as (
        select i.id, case
          when exists (select 1 from gold_labels g where g.image_id = i.id and g.superseded_at is null) then 0
          else greatest(d.reads_per_image -
            (select count(*) from reads r where r.image_id = i.id and r.kind = 'read'), 0)::int
          end as n
        from images i join datasets d on d.id = i.dataset_id
        where i.dataset_id = ${opts.datasetId}
      ), upd as (
        update images set reads_needed = wanted.n from wanted
        where images.id = wanted.id and images.reads_needed <> wanted.n
        returning 1
      ) select count(*) as n from upd`);
    const changed = Number(res.rows[0]?.n ?? 0);
    await recordAudit(tx, {
      actorId: opts.actor?.id ?? null,
      action: "queue.sync_reads_needed",
      resourceType: "dataset",
      resourceId: opts.datasetId,
      datasetId: opts.datasetId,
      details: { changed },
    });
    return changed;
  });
}

export interface ModelAssist {
  versionId: string;
  versionNumber: number;
  probs: Record<string, number>;
  /** head key -> storage key of the Grad-CAM heatmap, where computed. */
  heatmaps: Record<string, string>;
}

/**
 * The active version's output for an image, for the reader. Blind datasets never show it before the
 * caller's read of the image is stored (FORBIDDEN), so the model cannot bias the read; assisted
 * datasets show it to whoever holds the image or has read it. Null when no active version scored it.
 */
export async function modelAssist(
  db: DbOrTx,
  opts: { actor: Actor; imageId: string },
): Promise<ModelAssist | null> {
  const res = await db.execute<{
    reading_mode: "blind" | "assisted";
    read_it: boolean;
    holds_it: boolean;
    version_id: string | null;
    number: number | null;
    probs: Record<string, number> | null;
    heatmaps: Record<string, string> | null;
  }>(sql`
    select d.reading_mode,
      exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${opts.actor.id}) as read_it,
      exists (select 1 from leases l where l.image_id = i.id and l.user_id = ${opts.actor.id}
        and l.expires_at > now()) as holds_it,
      v.id as version_id, v.number, p.probs, p.heatmaps
    from images i
    join datasets d on d.id = i.dataset_id
    left join model_versions v on v.dataset_id = i.dataset_id and v.is_active
    left join predictions p on p.version_id = v.id and p.image_id = i.id
    where i.id = ${opts.imageId}`);
  const row = res.rows[0];
  if (!row) throw notFound("image");
  const staff = opts.actor.role !== "annotator";
  if (!staff && !row.read_it) {
    if (row.reading_mode === "blind")
      throw new ServiceError(
        "FORBIDDEN",
        "blind reading: the model's output shows after your read is submitted",
      );
    if (!row.holds_it) throw notFound("image");
  }
  if (!row.version_id || !row.probs || row.number === null) return null;
  return {
    versionId: row.version_id,
    versionNumber: row.number,
    probs: row.probs,
    heatmaps: row.heatmaps ?? {},
  };
}
