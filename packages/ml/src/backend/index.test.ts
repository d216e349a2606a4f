import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { readMlEnv } from "../env";
import { initBackend } from "./index";

describe("ML environment", () => {
  it("defaults to auto and accepts each backend name", () => {
    expect(readMlEnv({}).XRAY_TF_BACKEND).toBe("auto");
    for (const name of ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const) {
      expect(readMlEnv({ XRAY_TF_BACKEND: name }).XRAY_TF_BACKEND).toBe(name);
    }
    expect(readMlEnv({ XRAY_TF_THREADS: "3" }).XRAY_TF_THREADS).toBe(3);
  });

  it("refuses unknown backends and bad thread counts", () => {
    expect(() => readMlEnv({ XRAY_TF_BACKEND: "webgl" })).toThrow(/XRAY_TF_BACKEND/);
    expect(() => readMlEnv({ XRAY_TF_THREADS: "0" })).toThrow(/XRAY_TF_THREADS/);
    expect(() => readMlEnv({ XRAY_TF_THREADS: "two" })).toThrow(/XRAY_TF_THREADS/);
  });
});

describe("initBackend", () => {
  it("falls through the missing native packages to wasm, logs once, and is idempotent", async () => {
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    const saved = process.env.XRAY_TF_BACKEND;
    delete process.env.XRAY_TF_BACKEND;
    try {
      const [first, second] = await Promise.all([initBackend({ log }), initBackend({ prefer: "cpu", log })]);
      const third = await initBackend({ log });
      expect(first.name).toBe("wasm");
      expect(first.detail).toMatch(/simd=true/);
      // tfjs-node(-gpu) are installed without their native addon here: both are tried and skipped.
      expect(first.detail).toMatch(/skipped tensorflow-gpu: .*; tensorflow: /);
      expect(second).toBe(first);
      expect(third).toBe(first);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("TF.js backend: wasm");
      expect(tf.getBackend()).toBe("wasm");
      // The kernels training needs are in place.
      expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined();
      expect(tf.getKernel("Conv2DBackpropInput", "wasm")).toBeDefined();
    } finally {
      if (saved !== undefined) process.env.XRAY_TF_BACKEND = saved;
    }
  });
});
