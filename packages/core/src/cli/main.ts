/** `pnpm xray <command>`: the admin CLI. Commands live in ./commands.ts as a small registry. */
import { pathToFileURL } from "node:url";
import { ServiceError } from "../errors";
import { openPlatform, type Platform } from "../platform";
import { UsageError } from "./args";
import { COMMANDS, type Command, parse } from "./commands";

function overview(): string {
  const lines = COMMANDS.map((c) => `  ${c.path.join(" ").padEnd(16)} ${c.summary}`);
  return `Usage: pnpm xray <command> [options]   (every command has --help)\n\nCommands:\n${lines.join("\n")}\n\nUses DATABASE_URL when set, otherwise the embedded PostgreSQL under XRAY_DATA_DIR (default .data).`;
}

function find(argv: string[]): { command: Command; rest: string[] } | null {
  for (const c of COMMANDS)
    if (c.path.every((w, i) => argv[i] === w)) return { command: c, rest: argv.slice(c.path.length) };
  return null;
}

export async function runCli(argv: string[], out = console.log, err = console.error): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    out(overview());
    return argv.length === 0 ? 2 : 0;
  }
  const found = find(argv);
  const group = COMMANDS.filter((c) => c.path.length > 1 && c.path[0] === argv[0]);
  if (!found && group.length > 0) {
    const lines = group.map((c) => `  ${c.path.join(" ").padEnd(16)} ${c.summary}`);
    const wantsHelp = argv.includes("--help") || argv.includes("-h");
    (wantsHelp ? out : err)(
      `Usage: pnpm xray ${argv[0]} <command> [options]\n\nCommands:\n${lines.join("\n")}`,
    );
    return wantsHelp ? 0 : 2;
  }
  if (!found) {
    err(`unknown command: ${argv.join(" ")}\n`);
    err(overview());
    return 2;
  }
  const { command, rest } = found;
  let platform: Platform | null = null;
  try {
    const { values, positionals } = parse(rest, command.options, command.positionals);
    if (values.help) {
      out(command.help);
      return 0;
    }
    return await command.run(values, positionals, {
      platform: async () => {
        platform ??= await openPlatform({ applicationName: "xray-cli", log: (l) => err(`[platform] ${l}`) });
        return platform;
      },
      out,
      err,
    });
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n`);
      err(command.help);
      return 2;
    }
    if (e instanceof ServiceError) {
      err(`error: ${e.message}`);
      return 1;
    }
    err(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  } finally {
    const p = platform as Platform | null;
    if (p) await p.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
