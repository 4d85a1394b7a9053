#!/usr/bin/env python3
"""Rewrite the server settings in package.json from the server's settings model.

Run from anywhere with the repo's Python: `.venv/bin/python editors/vscode/scripts/sync-settings.py`.
Client-only settings (serverPath, pythonPath, serverArgs, trace.server) and the
deliberate overrides below are kept; secret settings (apiKey) are never contributed.
The unit test test/settings.test.ts fails when package.json and the model drift apart.
"""
import json
import sys
from pathlib import Path

EXT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(EXT.parent.parent))
from deepseek_ls.settings import setting_fields  # noqa: E402

CLIENT_ONLY = ["deepseek.serverPath", "deepseek.pythonPath", "deepseek.serverArgs"]
TRAILING = ["deepseek.trace.server"]
# The extension shows chat answers in its own panel: no transcript documents by default.
OVERRIDES = {
    "chat.transcripts": {
        "default": False,
        "markdownDescription": "Also write chat answers to a Markdown transcript and open it (`window/showDocument`). "
        "The extension shows answers in its own panel, so this is off here (the server's own default is on, "
        "for editors without a plugin).",
    },
    "baseUrl": {
        "markdownDescription": "API endpoint (env `DEEPSEEK_BASE_URL`). Plain `http://` only for loopback hosts. "
        "The API key is kept in the secret storage: run **DeepSeek: Set API Key**.",
    },
    "logLevel": {"description": "Server log level (its log goes to the DeepSeek output channel)."},
}

pkg_path = EXT / "package.json"
pkg = json.loads(pkg_path.read_text())
old = pkg["contributes"]["configuration"]["properties"]
props = {k: old[k] for k in CLIENT_ONLY}
order = 10
for f in setting_fields():
    meta = f.metadata
    if meta["secret"]:
        continue
    d = f.default
    spec = {"type": "boolean" if isinstance(d, bool) else "integer" if isinstance(d, int)
            else "number" if isinstance(d, float) else "string", "default": d}
    if isinstance(d, tuple):  # a list of strings (deepseek.exclude)
        spec = {"type": "array", "items": {"type": "string"}, "default": list(d)}
    if meta.get("schema"):  # a structured setting (deepseek.fallbacks) gives its own JSON schema
        spec = json.loads(json.dumps(meta["schema"]))
    if meta["lo"] is not None:
        spec["minimum"] = meta["lo"]
    if meta["hi"] is not None:
        spec["maximum"] = meta["hi"]
    if meta["choices"]:
        spec["enum"] = list(meta["choices"])
    spec["order"] = order
    order += 1
    spec["markdownDescription"] = meta["doc"]
    spec.update(OVERRIDES.get(meta["key"], {}))
    if "description" in spec:
        spec.pop("markdownDescription")
    props[f"deepseek.{meta['key']}"] = spec
for k in TRAILING:
    props[k] = dict(old[k], order=order)
    order += 1
pkg["contributes"]["configuration"]["properties"] = props
pkg_path.write_text(json.dumps(pkg, indent=2, ensure_ascii=False) + "\n")
print(f"{len(props)} settings written to {pkg_path}")

# The README's settings table, between its markers.
readme_path = EXT / "README.md"
readme = readme_path.read_text()
start, end = "<!-- settings:start -->", "<!-- settings:end -->"
rows = ["| setting | default | description |", "| --- | --- | --- |"]
for key, spec in props.items():
    default = json.dumps(spec.get("default"))
    doc = (spec.get("markdownDescription") or spec.get("description", "")).replace("|", "\\|").replace("\n", " ")
    doc = doc.replace("#deepseek.", "deepseek.").replace("#`", "`")
    extra = f" One of {', '.join('`%s`' % c for c in spec['enum'])}." if "enum" in spec else ""
    rows.append(f"| `{key}` | `{default}` | {doc}{extra} |")
head, _, rest = readme.partition(start)
_, _, tail = rest.partition(end)
readme_path.write_text(head + start + "\n" + "\n".join(rows) + "\n" + end + tail)
print(f"settings table written to {readme_path}")
