import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { buildClassifier, EMBEDDING_LAYER, HEADS_LAYER } from "../models/resnet.js";
import { foldGraph, opInputs } from "./layer-graph.js";

const schema = { gate: { key: "abnormal", name: "Abnormal" }, findings: [{ key: "kl3", name: "KL 3+" }] };

beforeAll(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

describe("foldGraph (the folded classifier both inference compilers translate)", () => {
  it("folds every batch norm into its conv, fuses the ReLUs after convs and adds, drops dropout", () => {
    const net = buildClassifier({
      encoder: { inputSize: 100, width: 8, blocks: [2, 1] },
      schema,
      dropout: 0.3,
    });
    const layers = net.full.layers.map((l) => l.getClassName());
    const count = (cls: string) => layers.filter((c) => c === cls).length;
    const g = foldGraph(net.full, "test");
    const kinds = (k: string) => g.ops.filter((o) => o.kind === k).length;
    // One conv op per Conv2D layer, no op for batch norms, dropout or fused ReLUs.
    expect(kinds("conv")).toBe(count("Conv2D"));
    expect(count("BatchNormalization")).toBeGreaterThan(0);
    expect(kinds("add")).toBe(count("Add"));
    expect(kinds("maxpool")).toBe(count("MaxPooling2D"));
    expect(kinds("dense")).toBe(count("Dense"));
    const fusedRelus = g.ops.filter((o) => (o.kind === "conv" || o.kind === "add") && o.relu).length;
    expect(fusedRelus + kinds("relu")).toBe(count("ReLU"));
    expect(kinds("relu")).toBe(0);
    // Every op reads the input or an earlier op; the outputs resolve to ops.
    const seen = new Set([g.input]);
    for (const op of g.ops) {
      for (const name of opInputs(op)) expect(seen.has(name), `${op.name} reads ${name}`).toBe(true);
      seen.add(op.name);
    }
    expect(seen.has(g.outputOf(EMBEDDING_LAYER) ?? "")).toBe(true);
    const heads = g.ops.find((o) => o.name === g.outputOf(HEADS_LAYER));
    expect(heads?.kind).toBe("dense");
    // The dense op reads the embedding directly: the dropout between them is gone.
    expect(heads && opInputs(heads)).toEqual([g.outputOf(EMBEDDING_LAYER)]);
    net.full.dispose();
  });

  it("names the layer it cannot compile", () => {
    const input = tfl.input({ shape: [8, 8, 1] });
    const y = tfl.layers
      .conv2d({ filters: 4, kernelSize: 3, activation: "tanh", name: "odd_conv" })
      .apply(input);
    const model = tfl.model({ inputs: input, outputs: y as tfl.SymbolicTensor });
    expect(() => foldGraph(model, "test")).toThrow(/test: conv odd_conv has activation tanh/);
    const z = tfl.layers.batchNormalization({ name: "lone_bn" }).apply(input);
    const m2 = tfl.model({ inputs: input, outputs: z as tfl.SymbolicTensor });
    expect(() => foldGraph(m2, "test")).toThrow(/lone_bn does not follow a conv/);
    model.dispose();
    m2.dispose();
  });
});
