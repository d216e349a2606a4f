/**
 * Property-based fuzzing of every tRPC procedure (docs/security.md): inputs are generated from each
 * procedure's zod input schema (via z.toJSONSchema and a small JSON-schema -> fast-check walker),
 * biased towards the fixtures' real ids, plus arbitrary junk. Called as an admin and as an annotator
 * through createCaller on a real database, a procedure may succeed or refuse with a client error,
 * never fail with INTERNAL_SERVER_ERROR or a non-tRPC error; and an answer about one dataset never
 * carries another dataset's image id.
 */
import { TRPCError } from "@trpc/server";
import { appRouter, createCaller } from "@xray/api";
import type { UserRole } from "@xray/db";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { useTestDatabase } from "../db";
import { type ApiFixtures, contextFor, seedApiFixtures } from "./fixtures";

const CLIENT_ERRORS = new Set<TRPCError["code"]>([
  "BAD_REQUEST",
  "NOT_FOUND",
  "FORBIDDEN",
  "CONFLICT",
  "PRECONDITION_FAILED",
  "UNPROCESSABLE_CONTENT",
  "PAYLOAD_TOO_LARGE",
  "TOO_MANY_REQUESTS",
]);
const RUNS = Number(process.env.XRAY_FUZZ_RUNS ?? 12);

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  additionalProperties?: boolean | JsonSchema;
};

/** Mostly-valid values for a JSON schema; a share of junk keeps the validation paths honest. */
function arbitraryFor(schema: JsonSchema, ids: string[], depth = 0): fc.Arbitrary<unknown> {
  const valid = validFor(schema, ids, depth);
  return fc.oneof({ weight: 8, arbitrary: valid }, { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) });
}

function validFor(schema: JsonSchema, ids: string[], depth: number): fc.Arbitrary<unknown> {
  if (depth > 5) return fc.constant(undefined);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const union = schema.anyOf ?? schema.oneOf;
  if (union && union.length > 0) return fc.oneof(...union.map((s) => arbitraryFor(s, ids, depth + 1)));
  if (schema.allOf?.[0]) return validFor(schema.allOf[0], ids, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string": {
      if (schema.format === "uuid")
        return fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...ids) },
          { weight: 1, arbitrary: fc.uuid() },
        );
      if (schema.format === "date-time") return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
      if (schema.format === "email") return fc.emailAddress();
      const min = schema.minLength ?? 0;
      const max = Math.min(schema.maxLength ?? 40, min + 60);
      return fc.oneof(
        fc.string({ minLength: min, maxLength: max }),
        fc.constantFrom("../../etc/passwd", "=cmd|' /C calc'!A0", "' OR 1=1 --", "\u0000", "%00"),
      );
    }
    case "integer":
    case "number": {
      const min =
        schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1e6);
      const max =
        schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1e6);
      const ints = fc.integer({ min: Math.ceil(Math.max(min, -1e9)), max: Math.floor(Math.min(max, 1e9)) });
      return type === "integer"
        ? fc.oneof(ints, fc.constantFrom(0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER))
        : fc.oneof(ints, fc.double({ min: Math.max(min, -1e9), max: Math.min(max, 1e9), noNaN: true }));
    }
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const item = schema.items ? arbitraryFor(schema.items, ids, depth + 1) : fc.anything({ maxDepth: 1 });
      return fc.array(item, {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 5, 8),
      });
    }
    case "object": {
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, sub] of Object.entries(props)) record[key] = arbitraryFor(sub, ids, depth + 1);
      return fc.record(record, {
        requiredKeys: Object.keys(props).filter((k) => required.has(k)),
      });
    }
    default:
      return fc.anything({ maxDepth: 2 });
  }
}

interface ProcedureDef {
  _def?: { inputs?: unknown[]; type?: string };
}

function inputArbitrary(path: string, ids: string[]): fc.Arbitrary<unknown> {
  const proc: unknown = Reflect.get(appRouter._def.procedures, path);
  const schema =
    typeof proc === "function" || (typeof proc === "object" && proc !== null)
      ? (proc as ProcedureDef)._def?.inputs?.[0]
      : undefined;
  if (!(schema instanceof z.ZodType)) return fc.oneof(fc.constant(undefined), fc.anything({ maxDepth: 1 }));
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return arbitraryFor(json, ids);
}

function procedureOf(caller: unknown, path: string): (input: unknown) => Promise<unknown> {
  let node: unknown = caller;
  for (const part of path.split(".")) node = Reflect.get(node as object, part);
  if (typeof node !== "function") throw new Error(`no procedure at ${path}`);
  return (input) => Promise.resolve(Reflect.apply(node, undefined, [input]));
}

const procedurePaths = Object.keys(appRouter._def.procedures).sort();

describe("tRPC input fuzzing", () => {
  const tdb = useTestDatabase();
  let f: ApiFixtures;
  let ids: string[];
  beforeAll(async () => {
    f = await seedApiFixtures((await tdb).db);
    ids = [
      f.datasetId,
      f.otherDatasetId,
      f.imageId,
      f.otherImageId,
      f.importId,
      f.target.id,
      ...Object.values(f.users).map((u) => u.id),
    ];
  });

  it("covers every procedure", () => {
    expect(procedurePaths.length).toBeGreaterThan(10);
  });

  for (const role of ["admin", "annotator"] as const satisfies readonly UserRole[]) {
    it.each(procedurePaths)(`%s as ${role}: client errors only, no cross-dataset ids`, async (path) => {
      const call = procedureOf(createCaller(contextFor(f, f.users[role])), path);
      await fc.assert(
        fc.asyncProperty(inputArbitrary(path, ids), async (input) => {
          let output: unknown;
          try {
            output = await call(input);
          } catch (err) {
            if (!(err instanceof TRPCError))
              throw new Error(`${path} threw a non-tRPC error: ${String(err)}`);
            if (!CLIENT_ERRORS.has(err.code))
              throw new Error(`${path} answered ${err.code}: ${err.message}\n${err.cause?.stack ?? ""}`);
            return;
          }
          // An answer scoped to one dataset never names the other dataset's image.
          const scope = JSON.stringify(input ?? null);
          const answer = JSON.stringify(output ?? null);
          if (
            scope.includes(f.datasetId) &&
            !scope.includes(f.otherDatasetId) &&
            !scope.includes(f.otherImageId)
          )
            expect(answer, `${path} leaked another dataset's image`).not.toContain(f.otherImageId);
        }),
        { numRuns: RUNS, seed: Number(process.env.XRAY_FUZZ_SEED ?? 20261126), endOnFailure: true },
      );
    });
  }
});
