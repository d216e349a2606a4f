import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { getSessionUser } from "@/server/auth";
import { LoginForm } from "./login-form";

export const metadata: Metadata = { title: "Sign in" };

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  if (await getSessionUser()) redirect("/");
  const params = await searchParams;
  const from = typeof params.from === "string" ? params.from : "/";
  return (
    <main className="login-page">
      <section className="login-card">
        <h1>X-ray labels</h1>
        <p className="muted">Sign in to read, review and train.</p>
        <LoginForm from={from} />
      </section>
    </main>
  );
}
