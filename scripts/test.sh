#!/usr/bin/env bash
# The whole test suite: static checks, schema/migration agreement, unit + integration tests,
# then the browser journeys. Used by `pnpm test` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1

step() { printf '\n== %s ==\n' "$1"; }

step "lint + format (biome)"
pnpm exec biome check .

step "typecheck"
pnpm run typecheck

step "schema and migrations agree"
bash scripts/db-check.sh

step "unit + integration tests (vitest)"
pnpm exec vitest run

if [ -d tests/e2e ] && [ "${SKIP_E2E:-0}" != "1" ]; then
  step "browser journeys (playwright)"
  pnpm --filter @xray/web build
  # @playwright/test is a dependency of the tests package, so run its binary from there.
  pnpm --dir tests exec playwright test -c playwright.config.ts
fi
