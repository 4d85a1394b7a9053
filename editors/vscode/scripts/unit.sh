#!/usr/bin/env bash
# Unit tests of the VS Code extension: no VS Code needed, runs on Node >= 20.
#   npm ci (from the committed package-lock.json), build (typecheck + esbuild bundle), node --test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm ci --no-audit --no-fund
npm run build
npm test
