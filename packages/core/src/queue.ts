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
import { type DbOrTx, datasets, images } from "@xray/db";
import { eq, sql } from "drizzle-orm";
import type { Actor } from "./actor";
import { recordAudit } from "./audit";
import { notFound } from "./errors";

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

const imageColumns = {
  id: images.id,
  datasetId: images.datasetId,
  normalizedKey: images.normalizedKey,
  thumbnailKey: images.thumbnailKey,
  width: images.width,
  height: images.height,
  species: images.species,
  bodyPart: images.bodyPart,
  view: images.view,
  priority: images.priority,
};

async function leaseMinutesOf(db: DbOrTx, datasetId: string): Promise<number> {
  const [row] = await db
    .select({ leaseMinutes: datasets.leaseMinutes })
    .from(datasets)
    .where(eq(datasets.id, datasetId));
  if (!row) throw notFound("dataset");
  return row.leaseMinutes;
}

async function loadImage(db: DbOrTx, imageId: string): Promise<QueueImage> {
  const [row] = await db.select(imageColumns).from(images).where(eq(images.id, imageId));
  if (!row) throw notFound("image");
  return row;
}

/** Renews and returns the caller's oldest unexpired lease in the dataset that still needs their read. */
async function renewHeldLease(
  db: DbOrTx,
  actor: Actor,
  datasetId: string,
  minutes: number,
): Promise<{ imageId: string; expiresAt: Date } | null> {
  const res = await db.execute<{ image_id: string; expires_at: Date }>(sql`
    with held as (
      select l.image_id from leases l
      join images i on i.id = l.image_id
      where l.user_id = ${actor.id} and l.dataset_id = ${datasetId} and l.expires_at > now()
        and i.reads_needed > 0
        and not exists (select 1 from reads r where r.image_id = l.image_id and r.user_id = ${actor.id})
      order by l.created_at, l.image_id
      limit 1
      for update of l
    )
    update leases set expires_at = now() + make_interval(mins => ${minutes})
    from held
    where leases.image_id = held.image_id and leases.user_id = ${actor.id}
    returning leases.image_id, leases.expires_at`);
  const row = res.rows[0];
  return row ? { imageId: row.image_id, expiresAt: new Date(row.expires_at) } : null;
}

/**
 * One attempt to lease the best free image. Returns the lease, or `{ lost: true }` when the chosen
 * candidate was leased by a concurrent caller between our snapshot and our insert, or null when the
 * queue holds nothing for this annotator.
 */
async function tryTakeLease(
  db: DbOrTx,
  actor: Actor,
  datasetId: string,
  minutes: number,
): Promise<{ imageId: string; expiresAt: Date } | { lost: true } | null> {
  const res = await db.execute<{
    candidate: string | null;
    image_id: string | null;
    expires_at: Date | null;
  }>(sql`
    with candidate as (
      select i.id from images i
      where i.dataset_id = ${datasetId} and i.reads_needed > 0
        and not exists (select 1 from reads r where r.image_id = i.id and r.user_id = ${actor.id})
        and not exists (select 1 from leases l where l.image_id = i.id and l.expires_at > now())
      order by i.priority desc nulls last, i.id
      limit 1
      for update of i skip locked
    ), taken as (
      insert into leases (image_id, user_id, dataset_id, expires_at, created_at)
      select id, ${actor.id}, ${datasetId}, now() + make_interval(mins => ${minutes}), now() from candidate
      on conflict (image_id) do update
        set user_id = excluded.user_id, dataset_id = excluded.dataset_id,
            expires_at = excluded.expires_at, created_at = excluded.created_at
        where leases.expires_at <= now()
      returning image_id, expires_at
    )
    select (select id from candidate) as candidate, taken.image_id, taken.expires_at
    from (select 1) one left join taken on true`);
  const row = res.rows[0];
  if (!row || row.candidate === null) return null;
  if (row.image_id === null || row.expires_at === null) return { lost: true };
  return { imageId: row.image_id, expiresAt: new Date(row.expires_at) };
}

const MAX_ATTEMPTS = 8;

/**
 * The next image for this annotator, leased to them for the dataset's lease time. Returns the
 * caller's own unexpired lease first (renewed), so reloading the page never burns images.
 * Null when nothing is left for this annotator.
 */
export async function nextImage(db: DbOrTx, opts: NextImageOptions): Promise<QueueItem | null> {
  const { actor, datasetId } = opts;
  return await db.transaction(async (tx) => {
    const minutes = await leaseMinutesOf(tx, datasetId);
    const held = await renewHeldLease(tx, actor, datasetId, minutes);
    if (held)
      return { image: await loadImage(tx, held.imageId), leaseExpiresAt: held.expiresAt, resumed: true };
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const got = await tryTakeLease(tx, actor, datasetId, minutes);
      if (got === null) return null;
      if ("lost" in got) continue;
      await recordAudit(tx, {
        actorId: actor.id,
        action: "lease.take",
        resourceType: "image",
        resourceId: got.imageId,
        datasetId,
        details: { expiresAt: got.expiresAt.toISOString() },
      });
      return { image: await loadImage(tx, got.imageId), leaseExpiresAt: got.expiresAt, resumed: false };
    }
    // Only reachable under extreme contention on the very top of the queue; the caller may ask again.
    return null;
  });
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
