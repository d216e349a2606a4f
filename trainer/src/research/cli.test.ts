import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint, squaresDataset } from "@xray/ml";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../cli.js";

let dir = "";
const size = 16;

beforeAll(async () => {
  process.env.XRAY_TF_BACKEND = "wasm";
  dir = await mkdtemp(join(tmpdir(), "trainer-cli-"));
  // A knee-layout folder: PNGs + labels.csv (path, split, kl_grade, oa_kl_ge2, patient_id, side).
  const d = squaresDataset(40, size, 11, { square: 5 });
  const lines = ["path,split,kl_grade,oa_kl_ge2,patient_id,side"];
  await mkdir(join(dir, "data", "images"), { recursive: true });
  for (let i = 0; i < d.images.count; i++) {
    const rel = `images/${i}.png`;
    const px = Buffer.from(d.images.pixels.subarray(i * size * size, (i + 1) * size * size));
    await sharp(px, { raw: { width: size, height: size, channels: 1 } })
      .png()
      .toFile(join(dir, "data", rel));
    const kl = d.labels[i] === 1 ? 2 + (i % 3) : i % 2;
    lines.push(
      `${rel},${i < 30 ? "train" : "val"},${kl},${kl >= 2 ? 1 : 0},${Math.floor(i / 2)},${i % 2 ? "left" : "right"}`,
    );
  }
  await writeFile(join(dir, "data", "labels.csv"), `${lines.join("\n")}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("pnpm trainer", () => {
  it("<command> --help prints that command's usage and exits 0, as the README says", async () => {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      for (const name of ["pretrain", "fit", "eval", "predict"]) {
        out.mockClear();
        expect(await main([name, "--help"])).toBe(0);
        const text = out.mock.calls.map((c) => String(c[0])).join("");
        expect(text).toContain(`usage: pnpm trainer ${name} `);
      }
      out.mockClear();
      expect(await main(["fit", "--data", "x", "-h"])).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join("")).toContain("--mixup");
      expect(out.mock.calls.map((c) => String(c[0])).join("")).toContain("--unlabelled-mixup");
    } finally {
      out.mockRestore();
    }
  });

  it("pretrain -> fit (FixMatch, 50% labels by patient) -> eval JSON -> predict CSV", async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const data = join(dir, "data");
      const common = ["--data", data, "--size", String(size), "--width", "8", "--blocks", "1,1"];
      const pre = join(dir, "pre");
      expect(
        await main(["pretrain", ...common, "--epochs", "1", "--batch-size", "8", "--run-dir", pre]),
      ).toBe(0);
      expect(existsSync(join(pre, "model", "model.json"))).toBe(true);
      expect(existsSync(join(pre, "checkpoints", "last.ckpt"))).toBe(true);

      const fit = join(dir, "fit");
      const fitArgs = [
        "fit",
        ...common,
        "--encoder",
        pre,
        "--labelled-fraction",
        "0.5",
        "--epochs",
        "2",
        "--batch-size",
        "4",
      ];
      expect(
        await main([
          ...fitArgs,
          "--steps-per-epoch",
          "2",
          "--threshold",
          "0.6",
          "--encoder-lr-scale",
          "0.3",
          "--run-dir",
          fit,
        ]),
      ).toBe(0);
      const config = JSON.parse(await readFile(join(fit, "config.json"), "utf8")) as {
        data: { labelledFraction: number };
        fit: { settings: { encoderLrScale: number; fixmatch: { threshold: number } } };
      };
      expect(config.data.labelledFraction).toBe(0.5);
      expect(config.fit.settings.encoderLrScale).toBe(0.3);
      expect(config.fit.settings.fixmatch.threshold).toBe(0.6);
      expect((await readFile(join(fit, "git-revision"), "utf8")).trim().length).toBeGreaterThan(0);
      const metrics = (await readFile(join(fit, "metrics.jsonl"), "utf8")).trim().split("\n");
      expect(metrics).toHaveLength(2);
      const m = JSON.parse(metrics[1] ?? "{}") as { mode: string; maskRate: Record<string, number> };
      expect(m.mode).toBe("fixmatch");
      expect(Object.keys(m.maskRate)).toEqual(["oa", "kl0", "kl1", "kl2", "kl3", "kl4"]);
      // A run folder is never silently overwritten.
      await expect(main([...fitArgs, "--run-dir", fit])).rejects.toThrow(/already holds a run/);

      out.length = 0;
      expect(await main(["eval", "--model", fit, "--data", data, "--split", "val"])).toBe(0);
      const report = JSON.parse(out.join("")) as {
        count: number;
        heads: Record<string, { auroc: number | null; aurocCI: unknown[]; sensitivity: number | null }>;
      };
      expect(report.count).toBe(10);
      expect(Object.keys(report.heads)).toContain("oa");
      expect(report.heads.oa?.aurocCI).toHaveLength(2);

      const csvPath = join(dir, "pred.csv");
      expect(
        await main(["predict", "--model", fit, "--data", data, "--mc-samples", "4", "--out", csvPath]),
      ).toBe(0);
      const rows = (await readFile(csvPath, "utf8")).trim().split("\n");
      expect(rows).toHaveLength(41);
      expect(rows[0]).toContain("oa_prob,oa_entropy,oa_bald");
      expect(rows[0]).toContain("kl4_gated");
      const first = rows[1]?.split(",") ?? [];
      const prob = Number(first[2]);
      expect(prob).toBeGreaterThanOrEqual(0);
      expect(prob).toBeLessThanOrEqual(1);
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  }, 600_000);

  it("pretrain --method simsiam trains SimSiam and records the method; an unknown method is refused", async () => {
    const spy = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const data = join(dir, "data");
      const common = ["--data", data, "--size", String(size), "--width", "8", "--blocks", "1,1"];
      const pre = join(dir, "pre-simsiam");
      const args = ["pretrain", ...common, "--epochs", "1", "--batch-size", "8", "--run-dir", pre];
      expect(await main([...args, "--method", "simsiam"])).toBe(0);
      const meta = JSON.parse(await readFile(join(pre, "model", "metadata.json"), "utf8")) as {
        extra?: { method?: string };
      };
      expect(meta.extra?.method).toBe("simsiam");
      const config = JSON.parse(await readFile(join(pre, "config.json"), "utf8")) as {
        ssl: { settings: { method?: string } };
      };
      expect(config.ssl.settings.method).toBe("simsiam");
      const ck = await loadCheckpoint(join(pre, "checkpoints", "last.ckpt"));
      expect(ck.meta.method).toBe("simsiam");
      await expect(main([...args.slice(0, -1), join(dir, "pre-byol"), "--method", "byol"])).rejects.toThrow(
        /invalid config: ssl.settings.method/,
      );
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  }, 600_000);

  it("fit --weighting softmatch trains with SoftMatch weights and records them; an unknown weighting is refused", async () => {
    const spy = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const data = join(dir, "data");
      const common = ["--data", data, "--size", String(size), "--width", "8", "--blocks", "1,1"];
      const fit = join(dir, "fit-soft");
      const args = ["fit", ...common, "--labelled-fraction", "0.5", "--epochs", "1", "--batch-size", "4"];
      expect(await main([...args, "--weighting", "softmatch", "--run-dir", fit])).toBe(0);
      const config = JSON.parse(await readFile(join(fit, "config.json"), "utf8")) as {
        fit: { settings: { fixmatch: { weighting: string } } };
      };
      expect(config.fit.settings.fixmatch.weighting).toBe("softmatch");
      const ck = await loadCheckpoint(join(fit, "checkpoints", "last.ckpt"));
      const stats = ck.meta.confStats as { mean: number[]; variance: number[] };
      // One running mean and variance per head of the model, carried for an exact resume.
      expect(stats.mean.length).toBeGreaterThan(0);
      expect(stats.variance).toHaveLength(stats.mean.length);
      for (const m of stats.mean) expect(m >= 0.5 && m <= 1).toBe(true);
      for (const v of stats.variance) expect(v).toBeGreaterThanOrEqual(0);
      await expect(main([...args, "--weighting", "soft", "--run-dir", join(dir, "fit-bad")])).rejects.toThrow(
        /invalid config: fit.settings.fixmatch.weighting/,
      );
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  }, 600_000);

  it("fit --teacher trains on an earlier fit's pseudo-labels, --pseudo-labels ema is recorded; bad ones are refused", async () => {
    const spy = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const data = join(dir, "data");
      const common = ["--data", data, "--width", "8", "--blocks", "1,1", "--labelled-fraction", "0.5"];
      const args = ["fit", ...common, "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4"];
      const teacher = join(dir, "fit-teacher");
      expect(
        await main([...args, "--size", String(size), "--pseudo-labels", "ema", "--run-dir", teacher]),
      ).toBe(0);
      const tcfg = JSON.parse(await readFile(join(teacher, "config.json"), "utf8")) as {
        fit: { settings: { fixmatch: { pseudoLabels: string } } };
      };
      expect(tcfg.fit.settings.fixmatch.pseudoLabels).toBe("ema");

      const student = join(dir, "fit-student");
      expect(await main([...args, "--size", String(size), "--teacher", teacher, "--run-dir", student])).toBe(
        0,
      );
      const scfg = JSON.parse(await readFile(join(student, "config.json"), "utf8")) as {
        fit: { teacher: string };
      };
      expect(scfg.fit.teacher).toBe(teacher);
      const meta = JSON.parse(await readFile(join(student, "model", "metadata.json"), "utf8")) as {
        extra: { teacher: string };
      };
      expect(meta.extra.teacher).toBe(teacher);

      // A second round taught by the ensemble of both earlier fits, with soft targets.
      const sized = [...args, "--size", String(size)];
      const round2 = join(dir, "fit-round2");
      const ensemble = ["--teacher", teacher, "--teacher", student];
      expect(await main([...sized, ...ensemble, "--targets", "soft", "--run-dir", round2])).toBe(0);
      const r2 = JSON.parse(await readFile(join(round2, "model", "metadata.json"), "utf8")) as {
        extra: { teacher: string[] };
      };
      expect(r2.extra.teacher).toEqual([teacher, student]);
      const r2cfg = JSON.parse(await readFile(join(round2, "config.json"), "utf8")) as {
        fit: { settings: { fixmatch: { targets: string } } };
      };
      expect(r2cfg.fit.settings.fixmatch.targets).toBe("soft");
      await expect(
        main([...sized, "--targets", "medium", "--run-dir", join(dir, "fit-bad-targets")]),
      ).rejects.toThrow(/invalid config: fit.settings.fixmatch.targets/);
      // Labelled-stream regularizers are recorded; an unknown view is refused before the run folder.
      const reg = join(dir, "fit-regularized");
      expect(
        await main([
          ...sized,
          "--labelled-aug",
          "strong",
          "--mixup",
          "0.4",
          "--lambda-u",
          "2",
          "--unlabelled-mixup",
          "0.5",
          "--run-dir",
          reg,
        ]),
      ).toBe(0);
      const regCfg = JSON.parse(await readFile(join(reg, "config.json"), "utf8")) as {
        fit: {
          settings: { labelledAugment: string; mixup: number; fixmatch: { lambdaU: number; mixup: number } };
        };
      };
      expect(regCfg.fit.settings).toMatchObject({
        labelledAugment: "strong",
        mixup: 0.4,
        fixmatch: { lambdaU: 2, mixup: 0.5 },
      });
      await expect(
        main([...sized, "--labelled-aug", "medium", "--run-dir", join(dir, "fit-bad-view")]),
      ).rejects.toThrow(/invalid config: fit.settings.labelledAugment/);
      expect(existsSync(join(dir, "fit-bad-view"))).toBe(false);
      const missing = ["--teacher", teacher, "--teacher", join(dir, "no-such-fit")];
      await expect(
        main([...sized, ...missing, "--run-dir", join(dir, "fit-missing-teacher")]),
      ).rejects.toThrow(/no-such-fit/);
      expect(existsSync(join(dir, "fit-missing-teacher"))).toBe(false);

      await expect(
        main([...args, "--size", "24", "--teacher", teacher, "--run-dir", join(dir, "fit-student-24")]),
      ).rejects.toThrow(/takes 16 px images, this fit 24 px/);
      expect(existsSync(join(dir, "fit-student-24"))).toBe(false); // refused before the run folder
      await expect(
        main([
          ...args,
          "--size",
          String(size),
          "--pseudo-labels",
          "teacher",
          "--run-dir",
          join(dir, "fit-bad-pl"),
        ]),
      ).rejects.toThrow(/invalid config: fit.settings.fixmatch.pseudoLabels/);
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  }, 600_000);
});
