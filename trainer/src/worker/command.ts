import { registerCommand } from "../research/registry.js";

/** `pnpm trainer worker`: take training rounds, pool scoring and heatmap jobs from the platform's queue. */
export function registerWorkerCommand(): void {
  registerCommand({
    name: "worker",
    summary:
      "run a trainer worker on the platform's job queue (DATABASE_URL or this install's embedded database)",
    usage: "worker   (env: DATABASE_URL, XRAY_DATA_DIR, XRAY_WORKER_ID)",
    async run(argv) {
      if (argv.includes("--help")) {
        process.stderr.write(
          "pnpm trainer worker\n  Takes one job at a time (rounds, pool scoring, heatmaps) until SIGINT/SIGTERM.\n" +
            "  DATABASE_URL   the platform's PostgreSQL (default: the embedded server under XRAY_DATA_DIR)\n" +
            "  XRAY_DATA_DIR  shared storage folder (default .data)\n  XRAY_WORKER_ID name in logs and rounds\n",
        );
        return 0;
      }
      const { runWorkerMain } = await import("./main.js");
      await runWorkerMain();
      return 0;
    },
  });
}
