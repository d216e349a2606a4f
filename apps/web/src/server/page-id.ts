import { notFound } from "next/navigation";
import { z } from "zod";

const uuid = z.string().uuid();

/**
 * For pages: the uuid in route parameter `key`; anything else is the not-found page (so a malformed
 * id never reaches a query).
 */
export async function pageId<K extends string>(params: Promise<Record<K, string>>, key: K): Promise<string> {
  const id = uuid.safeParse((await params)[key]);
  if (!id.success) notFound();
  return id.data;
}
