#!/usr/bin/env bash
# Fails when the drizzle schema has changes that no checked-in migration holds.
set -euo pipefail
cd "$(dirname "$0")/.."
pnpm exec drizzle-kit check --config packages/db/drizzle.config.ts
out=$(pnpm exec drizzle-kit generate --config packages/db/drizzle.config.ts 2>&1 </dev/null || true)
if ! grep -q "No schema changes" <<<"$out"; then
  echo "$out"
  echo "The schema in packages/db/src/schema differs from drizzle/: run 'pnpm db:generate' and commit." >&2
  git checkout -- drizzle 2>/dev/null || true
  git clean -fdq drizzle 2>/dev/null || true
  exit 1
fi
echo "schema and migrations agree"
