import { createAuthConfig } from "@xray/auth/config";
import { authenticate } from "@xray/auth/credentials";
import { createSessionValidator } from "@xray/auth/session";
import { createUser, setUserDisabled, setUserRole } from "@xray/core/users";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../db";

const PASSWORD = "Reader-pass-2026";

describe("sign-in and live sessions", () => {
  const tdb = useTestDatabase();
  let db: Awaited<typeof tdb>["db"];
  beforeAll(async () => {
    db = (await tdb).db;
  });

  it("signs in with the right password only, and refuses a disabled account", async () => {
    const user = await createUser(db, {
      email: "Vet@Clinic.test",
      role: "annotator",
      password: PASSWORD,
      actor: null,
    });
    const ok = await authenticate(db, { email: "  vet@clinic.test ", password: PASSWORD });
    expect(ok).toMatchObject({ ok: true, user: { id: user.id, role: "annotator", sessionVersion: 0 } });
    expect(await authenticate(db, { email: "vet@clinic.test", password: "Reader-pass-2027" })).toEqual({
      ok: false,
      reason: "invalid-credentials",
    });
    expect(await authenticate(db, { email: "nobody@clinic.test", password: PASSWORD })).toEqual({
      ok: false,
      reason: "invalid-credentials",
    });
    expect(await authenticate(db, { email: "vet@clinic.test" })).toEqual({
      ok: false,
      reason: "invalid-credentials",
    });
    await setUserDisabled(db, { userId: user.id, disabled: true, actor: null });
    expect(await authenticate(db, { email: "vet@clinic.test", password: PASSWORD })).toEqual({
      ok: false,
      reason: "account-disabled",
    });
    // A wrong password on a disabled account says nothing about the account.
    expect(await authenticate(db, { email: "vet@clinic.test", password: "Wrong-pass-2026" })).toEqual({
      ok: false,
      reason: "invalid-credentials",
    });
  });

  it("ends a live session on its next request once the user is disabled", async () => {
    const user = await createUser(db, {
      email: "lead@clinic.test",
      role: "lead",
      password: PASSWORD,
      actor: null,
    });
    const validator = createSessionValidator(() => db, { ttlMs: 0 });
    const config = createAuthConfig({ secret: "x".repeat(32), getDb: () => db, validator });
    const jwt = config.callbacks?.jwt;
    if (!jwt) throw new Error("the auth config has no jwt callback");
    // Sign-in: the token gets the user's claims.
    const signedIn = await jwt({ token: {}, user: { id: user.id }, account: null });
    expect(signedIn?.claims).toEqual({ userId: user.id, role: "lead", sessionVersion: 0 });
    if (!signedIn) throw new Error("no token");
    // Later requests re-validate the token against the database.
    expect(await jwt({ token: signedIn, account: null, user: {} })).not.toBeNull();
    await setUserDisabled(db, { userId: user.id, disabled: true, actor: null });
    expect(await jwt({ token: signedIn, account: null, user: {} })).toBeNull();
    // Enabling again does not revive the old token: the session version moved on.
    await setUserDisabled(db, { userId: user.id, disabled: false, actor: null });
    expect(await jwt({ token: signedIn, account: null, user: {} })).toBeNull();
  });

  it("caches an answer for a few seconds at most, and forgets on demand", async () => {
    const user = await createUser(db, {
      email: "researcher@clinic.test",
      role: "researcher",
      password: PASSWORD,
      actor: null,
    });
    let now = 1_000_000;
    const validator = createSessionValidator(() => db, { ttlMs: 3000, now: () => now });
    const claims = { userId: user.id, role: "researcher", sessionVersion: 0 };
    expect((await validator.validate(claims))?.id).toBe(user.id);
    await setUserRole(db, { userId: user.id, role: "annotator", actor: null });
    expect((await validator.validate(claims))?.id, "within the cache window").toBe(user.id);
    now += 3001;
    expect(await validator.validate(claims), "after the cache window").toBeNull();
    const fresh = { userId: user.id, role: "annotator", sessionVersion: 1 };
    expect((await validator.validate(fresh))?.role).toBe("annotator");
    await setUserDisabled(db, { userId: user.id, disabled: true, actor: null });
    validator.forget(user.id);
    expect(await validator.validate(fresh)).toBeNull();
    expect(await validator.validate({ userId: "not-a-uuid", role: "admin", sessionVersion: 0 })).toBeNull();
  });
});
