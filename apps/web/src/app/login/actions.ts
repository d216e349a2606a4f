"use server";

import { AuthError } from "next-auth";
import { signIn } from "@/server/auth";

export interface LoginState {
  error: string | null;
  email: string;
}

const MESSAGES: Record<string, string> = {
  "account-disabled": "This account is disabled. Ask an administrator to enable it.",
  "invalid-credentials": "Wrong e-mail or password.",
  "rate-limited": "Too many failed sign-ins. Wait 15 minutes and try again, or ask an administrator.",
};

/** Only same-site paths, so the login page cannot be used to bounce users elsewhere. */
function safeRedirect(from: FormDataEntryValue | null): string {
  if (typeof from !== "string" || !from.startsWith("/") || from.startsWith("//") || from.startsWith("/login"))
    return "/";
  return from;
}

export async function login(_prev: LoginState, form: FormData): Promise<LoginState> {
  const email = String(form.get("email") ?? "").trim();
  const password = String(form.get("password") ?? "");
  if (!email || !password) return { error: "Enter your e-mail and password.", email };
  try {
    await signIn("credentials", { email, password, redirectTo: safeRedirect(form.get("from")) });
    return { error: null, email };
  } catch (err) {
    // signIn redirects by throwing; only Auth.js errors are answers for the form.
    if (err instanceof AuthError) {
      const code = "code" in err && typeof err.code === "string" ? err.code : "";
      return { error: MESSAGES[code] ?? MESSAGES["invalid-credentials"] ?? "Sign-in failed.", email };
    }
    throw err;
  }
}
