"""The benchmark's corpus: real projects written by others, pinned, fetched from the registries.

Fetched into ``$DEEPSEEK_LS_CONTEXT_BENCH_DIR`` (default ``~/.cache/deepseek-ls-context-bench``),
never into the repo:

- Python: wheels from PyPI (``pip download``), unpacked as they would be installed;
- TypeScript: an npm package that ships its ``.ts`` sources (``npm pack``);
- Go: Debian ``golang-*-dev`` packages (``apt-get download`` + ``dpkg-deb -x``: the sources under
  ``/usr/share/gocode/src``, unpacked in the scratch dir, nothing installed system-wide; needs
  ``apt-get update`` once on a fresh machine).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Project:
    name: str
    language: str      # python | typescript | go
    source: str        # pypi | npm | debian
    package: str       # registry name
    version: str
    subdir: str = ""   # the project root inside the unpacked package

    def root(self, base: Path | None = None) -> Path:
        return (base or home()) / "src" / self.name / self.subdir


# different styles: click (one big core module + helpers), rich (many small modules, classes),
# httpx (private _modules, typing-heavy), jinja2 (compiler/runtime, older style);
# rxjs (one export per file, deep relative imports); cobra and urfave/cli (one Go package each)
PROJECTS: tuple[Project, ...] = (
    Project("click", "python", "pypi", "click", "8.1.7"),
    Project("rich", "python", "pypi", "rich", "13.7.1"),
    Project("httpx", "python", "pypi", "httpx", "0.27.2"),
    Project("jinja2", "python", "pypi", "jinja2", "3.1.4"),
    Project("rxjs", "typescript", "npm", "rxjs", "7.8.1", "src"),
    Project("cobra", "go", "debian", "golang-github-spf13-cobra-dev", "1.6.1-1",
            "usr/share/gocode/src/github.com/spf13/cobra"),
    Project("urfave-cli", "go", "debian", "golang-github-urfave-cli-v2-dev", "2.3.0-2",
            "usr/share/gocode/src/github.com/urfave/cli/v2"),
)


def home() -> Path:
    return Path(os.environ.get("DEEPSEEK_LS_CONTEXT_BENCH_DIR")
                or Path.home() / ".cache" / "deepseek-ls-context-bench")


def _log(msg: str) -> None:
    print(f"[corpus] {msg}", file=sys.stderr, flush=True)


def fetch(project: Project, base: Path | None = None) -> Path:
    """Download and unpack one project (skipped when present); returns its root."""
    base = base or home()
    dest = base / "src" / project.name
    stamp = dest / ".fetched"
    want = f"{project.source} {project.package} {project.version}\n"
    if stamp.is_file() and stamp.read_text() == want:
        return project.root(base)
    dl = base / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    _log(f"fetching {project.package} {project.version} ({project.source})")
    if project.source == "pypi":
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        "-d", str(dl), f"{project.package}=={project.version}"], check=True)
        norm = project.package.replace("-", "_").lower()
        whl = next(p for p in dl.glob("*.whl") if p.name.lower().startswith(f"{norm}-{project.version}-"))
        with zipfile.ZipFile(whl) as z:
            for m in z.namelist():
                if ".dist-info/" not in m:
                    z.extract(m, dest)
    elif project.source == "npm":
        out = subprocess.run(["npm", "pack", "--silent", f"{project.package}@{project.version}"], cwd=dl,
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(dl / out) as t:
            members = []
            for m in t.getmembers():
                if m.name.startswith("package/") and (m.isfile() or m.isdir()):
                    m.name = m.name[len("package/"):]
                    members.append(m)
            t.extractall(dest, members=members, filter="data")
    elif project.source == "debian":
        subprocess.run(["apt-get", "download", f"{project.package}={project.version}"], cwd=dl, check=True,
                       capture_output=True)
        deb = next(dl.glob(f"{project.package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    else:
        raise ValueError(project.source)
    stamp.write_text(want)
    return project.root(base)


def fetch_all(names: list[str] | None = None) -> list[tuple[Project, Path]]:
    out = []
    for p in PROJECTS:
        if names and p.name not in names:
            continue
        out.append((p, fetch(p)))
    return out
