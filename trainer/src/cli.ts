/**
 * `pnpm trainer <command>`: the research CLI. Commands live in a registry so other modules (the
 * queue worker) can add theirs with registerCommand before main() runs.
 */
import { registerResearchCommands } from "./research/commands.js";
import { getCommand, listCommands } from "./research/registry.js";
import { registerWorkerCommand } from "./worker/command.js";

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const cmd = name ? getCommand(name) : undefined;
  if (!cmd || name === "--help" || name === "help") {
    const lines = listCommands().map(
      (c) => `  ${c.name.padEnd(10)} ${c.summary}\n      pnpm trainer ${c.usage}`,
    );
    process.stderr.write(`usage: pnpm trainer <command> [flags]\n\n${lines.join("\n")}\n`);
    return name && name !== "--help" && name !== "help" ? 2 : 0;
  }
  // `pnpm trainer fit --help`: the command's own usage, not a flag parser's error.
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${cmd.summary}\n\nusage: pnpm trainer ${cmd.usage}\n`);
    return 0;
  }
  return cmd.run(rest);
}

registerResearchCommands();
registerWorkerCommand();
const isMain = process.argv[1] !== undefined && /cli\.ts$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
