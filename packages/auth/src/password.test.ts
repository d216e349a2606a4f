import { describe, expect, it } from "vitest";
import { checkPasswordPolicy, hashPassword, verifyPassword } from "./password";

describe("password hashing", () => {
  it("verifies the right password and refuses a wrong or malformed one", async () => {
    const h = await hashPassword("Correct horse 42");
    expect(h.startsWith("scrypt$32768$8$1$")).toBe(true);
    expect(await verifyPassword("Correct horse 42", h)).toBe(true);
    expect(await verifyPassword("correct horse 42", h)).toBe(false);
    expect(await verifyPassword("Correct horse 42", "plain")).toBe(false);
    expect(await hashPassword("Correct horse 42")).not.toBe(h);
  });

  it("applies the password policy", () => {
    expect(checkPasswordPolicy("short").ok).toBe(false);
    expect(checkPasswordPolicy("alllowercaseletters").ok).toBe(false);
    expect(checkPasswordPolicy("Vet-reader-2026", "anna@clinic.org").ok).toBe(true);
    expect(checkPasswordPolicy("annalovesxrays1", "anna@clinic.org").ok).toBe(false);
  });
});
