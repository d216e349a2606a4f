import Link from "next/link";

export default function NotFound() {
  return (
    <main className="status-page">
      <h1>404 — not found</h1>
      <p>There is nothing here, or nothing you may see.</p>
      <Link href="/">Back to the start page</Link>
    </main>
  );
}
