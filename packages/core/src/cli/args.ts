import { parseArgs } from "node:util";

/** Wrong usage: printed with the command's help, exit code 2. */
export class UsageError extends Error {}

export type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

export function parse(args: string[], options: OptionSpec, allowPositionals: boolean) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function str(values: Record<string, unknown>, key: string): string | undefined {
  const v = values[key];
  return typeof v === "string" ? v : undefined;
}

export function required(values: Record<string, unknown>, key: string): string {
  const v = str(values, key);
  if (v === undefined || v.trim() === "") throw new UsageError(`--${key} is required`);
  return v;
}

export function positiveInt(values: Record<string, unknown>, key: string): number | undefined {
  const v = str(values, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${key} must be a positive whole number`);
  return n;
}
