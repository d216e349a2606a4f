import { KNOWN_AUDIT_ACTIONS } from "@xray/core/audit-read";
import type { Metadata } from "next";
import Link from "next/link";
import { z } from "zod";
import { requireAction } from "@/server/guard";
import { withApi } from "@/server/trpc";

export const metadata: Metadata = { title: "Audit log" };

const PAGE_SIZE = 50;

const text = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .optional()
    .catch(undefined)
    .transform((v) => v || undefined);

const querySchema = z.object({
  action: text(100),
  actor: text(320),
  before: z.coerce.number().int().positive().optional().catch(undefined),
});

type Query = z.infer<typeof querySchema>;

function hrefFor(q: Query, before: number | undefined): string {
  const params = new URLSearchParams();
  if (q.action) params.set("action", q.action);
  if (q.actor) params.set("actor", q.actor);
  if (before !== undefined) params.set("before", String(before));
  const s = params.toString();
  return s ? `/admin/audit?${s}` : "/admin/audit";
}

function when(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** Every audited change (labels, adjudications, promotions, roles, refused sign-ins), newest first. */
export default async function AuditPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  await requireAction("audit.read");
  const q = querySchema.parse(await searchParams);
  // One row more than shown: whether an older page exists.
  const rows = await withApi((api) =>
    api.audit.list({ action: q.action, actorEmail: q.actor, beforeId: q.before, limit: PAGE_SIZE + 1 }),
  );
  const shown = rows.slice(0, PAGE_SIZE);
  const older = rows.length > PAGE_SIZE ? shown.at(-1)?.id : undefined;
  return (
    <>
      <div className="page-head">
        <h1>Audit log</h1>
        <p className="muted">Newest first, {PAGE_SIZE} per page. Times in UTC.</p>
      </div>
      <form className="filters" method="get" action="/admin/audit">
        <label>
          Action
          <input
            name="action"
            list="audit-actions"
            defaultValue={q.action ?? ""}
            placeholder="any action"
            autoComplete="off"
          />
          <datalist id="audit-actions">
            {KNOWN_AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </label>
        <label>
          Actor (e-mail)
          <input
            name="actor"
            type="email"
            defaultValue={q.actor ?? ""}
            placeholder="anyone"
            autoComplete="off"
          />
        </label>
        <button type="submit">Apply</button>
        {(q.action || q.actor) && <Link href="/admin/audit">Clear</Link>}
      </form>
      <section className="card">
        {shown.length === 0 ? (
          <p className="empty">No audit events match these filters.</p>
        ) : (
          <table className="table" data-testid="audit-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Target</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.id} data-testid="audit-row" data-id={e.id} data-action={e.action}>
                  <td>{when(e.at)}</td>
                  <td>{e.actorEmail ?? <span className="muted">system</span>}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td className="wrap">
                    {e.resourceType} {e.resourceId}
                  </td>
                  <td className="wrap">
                    <code>{JSON.stringify(e.details)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <nav className="pager" aria-label="Pages">
        {q.before !== undefined ? <Link href={hrefFor(q, undefined)}>← Newest</Link> : <span />}
        <span />
        {older !== undefined ? <Link href={hrefFor(q, older)}>Older →</Link> : <span />}
      </nav>
    </>
  );
}
