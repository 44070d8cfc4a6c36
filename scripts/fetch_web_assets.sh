#!/usr/bin/env bash
# Installs the Swagger UI assets that `sao serve` publishes at /docs (npm package
# swagger-ui-dist, version pinned in web/docs/package-lock.json) into web/docs/node_modules.
# Idempotent: does nothing when the installed tree matches the lock file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/web/docs"
stamp="$dir/node_modules/.package-lock.json"
if [ -s "$dir/node_modules/swagger-ui-dist/swagger-ui-bundle.js" ] && [ -s "$stamp" ] &&
  [ "$stamp" -nt "$dir/package-lock.json" ] && [ "$stamp" -nt "$dir/package.json" ]; then
  echo "web assets: $dir/node_modules is up to date"
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "web assets: npm is not installed (apt-get install npm); /docs will answer 503" >&2
  exit 1
fi
# --ignore-scripts: the assets are plain files; no install script needs to run (swagger-ui-dist
# pulls in an analytics package whose postinstall would phone home).
if ! npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts >/dev/null; then
  echo "web assets: npm ci failed (is the npm registry reachable?); /docs will answer 503" >&2
  exit 1
fi
echo "web assets: swagger-ui-dist installed in $dir/node_modules"
