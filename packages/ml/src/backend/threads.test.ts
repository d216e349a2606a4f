import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { relativeError } from "./conv-reference";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../../..");

interface Result {
  detail: string;
  values: number[];
  loopError: number;
  helpers: number;
  helperRows: number;
}
// One child per thread count, shared by the tests (each start costs seconds).
const results = new Map<string, Result>();
function run(threads: string): Result {
  const cached = results.get(threads);
  if (cached) return cached;
  const r = start(threads);
  results.set(threads, r);
  return r;
}

function start(threads: string): Result {
  const out = spawnSync(path.join(root, "node_modules/.bin/tsx"), [path.join(here, "threads-fixture.ts")], {
    env: { ...process.env, XRAY_TF_THREADS: threads },
    encoding: "utf8",
    timeout: 90_000,
  });
  // status null = killed by the timeout: the process did not exit on its own.
  expect(out.status, out.stderr).toBe(0);
  const line = out.stdout.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`no result line: ${out.stdout} ${out.stderr}`);
  return JSON.parse(line);
}

describe("threaded wasm under Node", () => {
  it("starts two threads, computes what one thread does, and exits by itself", () => {
    const one = run("1");
    const two = run("2");
    expect(one.detail).toContain("threads=1");
    expect(two.detail).toContain("threads=2");
    expect(two.values.length).toBe(2 * 9 * 9 * 8);
    expect(relativeError(two.values, one.values)).toBeLessThan(1e-6);
  });

  it("splits the 3x3 loop's rows with a helper thread when threaded, with the results of tf.conv2d", () => {
    const one = run("1");
    const two = run("2");
    expect(one.helpers).toBe(0);
    expect(two.helpers).toBe(1);
    // The helper claimed rows of its own (the big layer alone is 3 x 256 rows).
    expect(one.helperRows).toBe(0);
    expect(two.helperRows).toBeGreaterThan(0);
    expect(one.loopError).toBeLessThan(1e-5);
    expect(two.loopError).toBeLessThan(1e-5);
  });
});
