#!/usr/bin/env bash
# From a machine with only Node.js (>= 20) and npm to a running portal with demo data:
# installs pnpm, the workspace's dependencies, builds the portal, then runs `pnpm start`.
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
PNPM_VERSION=12.4.2
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "[up] installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
pnpm install --frozen-lockfile
# Rebuild the portal when the sources changed since the last build.
stamp=apps/web/.next/BUILD_SOURCES
current=$(git ls-files -s apps packages pnpm-lock.yaml 2>/dev/null | sha256sum | cut -c1-16 || echo none)
if [ ! -f apps/web/.next/BUILD_ID ] || [ "$(cat "$stamp" 2>/dev/null)" != "$current" ] || [ -n "$(git status --porcelain apps packages 2>/dev/null)" ]; then
  pnpm build
  echo "$current" > "$stamp"
fi
exec pnpm start
