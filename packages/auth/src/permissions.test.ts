import { USER_ROLES } from "@xray/db";
import { describe, expect, it } from "vitest";
import { ACTIONS, actionsOf, can, isAction, PERMISSIONS } from "./permissions";

describe("permissions table", () => {
  it("grants by role and refuses everything else", () => {
    expect(can("annotator", "reads.write")).toBe(true);
    expect(can("annotator", "users.manage")).toBe(false);
    expect(can("lead", "review.adjudicate")).toBe(true);
    expect(can("lead", "datasets.settings")).toBe(true);
    expect(can("lead", "datasets.manage")).toBe(false);
    expect(can("researcher", "rounds.start")).toBe(true);
    expect(can("researcher", "reads.write")).toBe(false);
    expect(can("admin", "users.manage")).toBe(true);
    // Least privilege: administrators run the install; they do not label or adjudicate.
    expect(can("admin", "reads.write")).toBe(false);
    expect(can("admin", "review.adjudicate")).toBe(false);
    expect(can(null, "images.read")).toBe(false);
  });

  it("names only known actions, and every action is granted to some role", () => {
    for (const role of USER_ROLES) for (const a of PERMISSIONS[role]) expect(isAction(a)).toBe(true);
    for (const a of ACTIONS)
      expect(
        USER_ROLES.some((r) => can(r, a)),
        a,
      ).toBe(true);
    expect(actionsOf("annotator")).toEqual(["datasets.read", "images.read", "reads.write"]);
    expect(isAction("everything")).toBe(false);
  });
});
