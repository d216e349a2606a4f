import { DEFAULT_FIXMATCH_THRESHOLD, fitConfigSchema } from "@xray/ml/fixmatch/trainer";
import { describe, expect, it } from "vitest";
import { roundConfigSchema } from "./round-config";

describe("round config defaults", () => {
  // round-config.ts stays free of TF.js (the browser form parses it), so it repeats the number.
  it("FixMatch's threshold is the ML library's default, given or omitted", () => {
    expect(roundConfigSchema.parse({}).fixmatch.threshold).toBe(DEFAULT_FIXMATCH_THRESHOLD);
    expect(roundConfigSchema.parse({ fixmatch: {} }).fixmatch.threshold).toBe(DEFAULT_FIXMATCH_THRESHOLD);
    expect(fitConfigSchema.parse({}).fixmatch.threshold).toBe(DEFAULT_FIXMATCH_THRESHOLD);
  });
});
