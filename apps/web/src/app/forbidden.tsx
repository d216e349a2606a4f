import Link from "next/link";

export default function Forbidden() {
  return (
    <main className="status-page">
      <h1>403 — not for your role</h1>
      <p>Your account cannot open this page. Ask an administrator if you need access.</p>
      <Link href="/">Back to the start page</Link>
    </main>
  );
}
