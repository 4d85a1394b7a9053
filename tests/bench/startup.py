"""Start-up benchmark: process start to the ``initialize`` answer, over stdio.

    python -m tests.bench.startup              # 10 rounds, then the import-time table
    python -m tests.bench.startup -n 20 --json results.json
    python -m tests.bench.startup --also main=/tmp/main-checkout   # before/after in one run

(``git archive main | tar -x -C /tmp/main-checkout`` makes such a checkout.)

Each round spawns, in turn (interleaved, so a busy machine slows every arm alike):

``python -c pass``
    the interpreter alone (start and exit): the floor of any Python server;
``import lsprotocol.types``
    the LSP types every pygls server imports (start, import, exit);
``bare pygls server``
    a pygls ``LanguageServer`` with no feature, answering ``initialize`` over
    stdio: the floor of a pygls server;
``deepseek-ls``
    ``python -m deepseek_ls`` (the entry editors run), answering a real
    ``initialize`` from VS Code 1.65's capabilities with the VS Code
    extension's ``initializationOptions``.

A server arm is timed from just before the process is spawned (its
``initialize`` request is written at once, as editors do) to the moment its
whole answer has been read; then it gets ``shutdown`` and ``exit``. The
report gives the median and p90 of each arm in ms, the ratios of the
medians to the two floors of the same run and the median CPU time of the
whole process (start to exit: steadier than wall time on a busy machine),
then ``python -X importtime`` of
one deepseek-ls start up to its ``initialize`` answer (the process is killed
when the answer arrives): the modules with the largest own time, and the
time per top-level package.

The server gets a made-up API key and an endpoint nothing listens on: only
``initialize`` is sent (no ``initialized``), so no request leaves the process;
its user data folder (the usage ledger's) is a temporary one.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

#: The source tree this benchmark belongs to: the deepseek_ls it measures (first on PYTHONPATH;
#: every process runs in a temporary folder, so the current directory shadows nothing).
TREE = Path(__file__).resolve().parents[2]

BARE_PYGLS = ("from pygls.lsp.server import LanguageServer\n"
              "LanguageServer('bare', '0').start_io()\n")

#: The VS Code extension's initializationOptions (editors/vscode/src/extension.ts), default settings.
VSCODE_OPTIONS: dict[str, Any] = {"deepseek": {"completion": {"enabled": True}}, "deepseekClient": "vscode",
                                  "deepseekSources": {"apiKey": "env"}}

#: Used when pytest-lsp's recorded client capabilities are not installed.
MINIMAL_PARAMS: dict[str, Any] = {"capabilities": {"general": {"positionEncodings": ["utf-16"]}},
                                  "clientInfo": {"name": "minimal"}}


def client_params(name: str = "visual_studio_code_v1.65.2") -> dict[str, Any]:
    """``{"clientInfo": ..., "capabilities": ...}`` as the editor ``name`` sends them
    (recorded by pytest-lsp: ``visual_studio_code_v1.65.2``, ``neovim_v0.10.0``, ``emacs_v29.1``...)."""
    spec = find_spec("pytest_lsp")  # the JSON only; pytest_lsp itself is not imported
    if spec is None or spec.origin is None:
        return dict(MINIMAL_PARAMS)
    path = Path(spec.origin).parent / "clients" / f"{name}.json"
    if not path.is_file():
        return dict(MINIMAL_PARAMS)
    params: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return params


def initialize_params(root: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    params = client_params()
    params.update(processId=os.getpid(), rootUri=Path(root).as_uri(),
                  workspaceFolders=[{"uri": Path(root).as_uri(), "name": Path(root).name}],
                  initializationOptions=VSCODE_OPTIONS if options is None else options)
    return params


def frame(obj: Any) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_frame(stream: Any) -> bytes | None:
    """The body of one LSP message from a binary stream, as sent; None at its end."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is not None:
                break
            continue
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body: bytes = stream.read(length)
    return body if len(body) == length else None


def read_message(stream: Any) -> dict[str, Any] | None:
    """One LSP message from a binary stream; None at its end."""
    body = read_frame(stream)
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def server_env(data_dir: str) -> dict[str, str]:
    """The environment of every arm: a made-up key, a closed port, the user data folder
    (where the usage ledger goes, found as a user's is) in ``data_dir``, and bytecode
    written (an installed package has its bytecode; PYTHONDONTWRITEBYTECODE would
    measure compiling instead)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEEPSEEK_", "PYTHONPROFILE")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(DEEPSEEK_API_KEY="sk-startup-benchmark", DEEPSEEK_BASE_URL="http://127.0.0.1:9",
               XDG_DATA_HOME=data_dir, PYTHONPATH=os.pathsep.join(filter(None, (str(TREE), env.get("PYTHONPATH")))))
    return env


class Failed(RuntimeError):
    pass


def reap(proc: subprocess.Popen[bytes]) -> float:
    """Wait for ``proc`` to end; the CPU seconds (user + system) it used in all."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


class Run:
    """One timed start: ``wall_s`` to the answer (or to the exit), ``cpu_s`` of the whole process."""

    def __init__(self, wall_s: float, cpu_s: float, answer: bytes = b"", stderr: bytes = b"") -> None:
        self.wall_s, self.cpu_s, self.answer, self.stderr = wall_s, cpu_s, answer, stderr


def time_initialize(argv: list[str], env: dict[str, str], params: dict[str, Any],
                    timeout_s: float = 60.0, kill_at_answer: bool = False, allow_error: bool = False) -> Run:
    """Seconds from spawning ``argv`` to its whole ``initialize`` answer, and the answer's bytes.

    Then ``shutdown`` and ``exit`` (or SIGKILL with ``kill_at_answer``). An error
    answer raises :class:`Failed` unless ``allow_error``."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env,
                                cwd=env.get("XDG_DATA_HOME"))
        assert proc.stdin is not None and proc.stdout is not None
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            proc.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}))
            proc.stdin.flush()
            while True:
                body = read_frame(proc.stdout)
                if body is None:
                    raise Failed(f"{argv[-1]} ended without answering initialize")
                message = json.loads(body)
                if message.get("id") == 1 and "method" not in message:
                    elapsed = time.perf_counter() - start
                    break
            if "result" not in message and not allow_error:
                raise Failed(f"initialize answered with an error: {message.get('error')}")
            if kill_at_answer:
                proc.kill()
            else:
                proc.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
                                 + frame({"jsonrpc": "2.0", "method": "exit"}))
                proc.stdin.flush()
                proc.stdin.close()
                # drain (a notification may still come) until the process ends
                while read_message(proc.stdout) is not None:
                    pass
            cpu_s = reap(proc)
        except BaseException:
            proc.kill()
            proc.wait()
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-4000:])
            raise
        finally:
            timer.cancel()
            proc.stdout.close()
            if not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        err.seek(0)
        return Run(elapsed, cpu_s, body, err.read())


def time_run(argv: list[str], env: dict[str, str]) -> Run:
    """Seconds from spawning ``argv`` to its exit (0 expected)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, cwd=env.get("XDG_DATA_HOME"))
    cpu_s = reap(proc)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise Failed(f"{argv} exited with {proc.returncode}")
    return Run(elapsed, cpu_s)


def answer_cases(root: str) -> dict[str, dict[str, Any]]:
    """``initialize`` params of a matrix of clients: the recorded capabilities of VS Code,
    Neovim and Emacs eglot, a minimal client, each position encoding offered alone and
    in another order, settings with errors in them, and params that are not valid."""
    base = initialize_params(root)

    def case(client: str | None = None, options: Any = None, **capabilities: Any) -> dict[str, Any]:
        params = {**base, **(client_params(client) if client else {"capabilities": {}}),
                  "initializationOptions": options}
        if capabilities:
            params["capabilities"] = {**params["capabilities"], **capabilities}
        return params

    return {
        "VS Code 1.65, its extension's options": case("visual_studio_code_v1.65.2", VSCODE_OPTIONS),
        "Neovim 0.10, plugin settings": case("neovim_v0.10.0", {"deepseek": {"completion": {"enabled": True}}}),
        "Neovim 0.11, no options": case("neovim_v0.11.0"),
        "Emacs eglot 29, no options": case("emacs_v29.1"),
        "minimal (no capabilities)": case(),
        "utf-8 only": case(None, {}, general={"positionEncodings": ["utf-8"]}),
        "utf-32 only": case(None, None, general={"positionEncodings": ["utf-32"]}),
        "utf-32, utf-8, utf-16": case("neovim_v0.11.0", None,
                                      general={"positionEncodings": ["utf-32", "utf-8", "utf-16"]}),
        "settings with errors": case("visual_studio_code_v1.65.2", {
            "deepseek": {"completion": {"model": 5, "debounceMs": "soon"}, "nosuch": 1}, "other": [1]}),
        "options not an object": case("emacs_v29.1", ["deepseek"]),
        "invalid params": {**base, "capabilities": "none", "processId": "me"},
    }


def compare_answers(arms: dict[str, dict[str, str]], root: str) -> list[tuple[str, bool, dict[str, bytes]]]:
    """For each case of :func:`answer_cases`: whether every arm (name → environment) answered
    ``initialize`` with the same bytes, and the answers."""
    out = []
    for name, params in answer_cases(root).items():
        answers = {arm: time_initialize([sys.executable, "-m", "deepseek_ls"], env, params,
                                        allow_error=True).answer for arm, env in arms.items()}
        out.append((name, len(set(answers.values())) == 1, answers))
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def importtime(env: dict[str, str], params: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """``(module, own µs, cumulative µs, depth)`` of every import of one deepseek-ls start,
    up to its ``initialize`` answer."""
    stderr = time_initialize([sys.executable, "-X", "importtime", "-m", "deepseek_ls"], env, params,
                             kill_at_answer=True).stderr
    rows: list[tuple[str, int, int, int]] = []
    seen: dict[str, int] = {}
    for line in stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        name = name.strip()
        if name in seen:  # a module imported through its package is listed twice: both count
            i = seen[name]
            rows[i] = (name, rows[i][1] + int(own), max(rows[i][2], int(cumulative)), rows[i][3])
        else:
            seen[name] = len(rows)
            rows.append((name, int(own), int(cumulative), depth))
    return rows


def package_totals(rows: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int]]:
    """``(top-level package, own µs summed, modules)``, largest first."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, own, _, _ in rows:
        entry = totals[name.split(".")[0]]
        entry[0] += own
        entry[1] += 1
    return sorted(((name, t[0], t[1]) for name, t in totals.items()), key=lambda r: -r[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--top", type=int, default=10, help="rows of the import-time tables (default 10)")
    parser.add_argument("--no-importtime", action="store_true", help="skip the import-time tables")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON too")
    parser.add_argument("--also", metavar="NAME=TREE", action="append", default=[],
                        help="one more deepseek-ls arm, run from the source tree TREE (a checkout of "
                             "another commit, as PYTHONPATH): before/after in the same run; the "
                             "initialize answers of a matrix of clients are then compared byte for byte")
    args = parser.parse_args(argv)

    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="deepseek-ls-startup-") as tmp:
        env = server_env(tmp)
        params = initialize_params(tmp)
        arms: dict[str, Callable[[], Run]] = {
            "python -c pass": lambda: time_run([py, "-c", "pass"], env),
            "import lsprotocol.types": lambda: time_run([py, "-c", "import lsprotocol.types"], env),
            "bare pygls server": lambda: time_initialize([py, "-c", BARE_PYGLS], env, params),
            "deepseek-ls": lambda: time_initialize([py, "-m", "deepseek_ls"], env, params),
        }
        also: dict[str, dict[str, str]] = {}
        for spec in args.also:
            name, _, tree = spec.partition("=")
            if not (name and Path(tree, "deepseek_ls", "__init__.py").is_file()):
                parser.error(f"--also expects NAME=TREE with TREE/deepseek_ls in it, got {spec!r}")
            also[f"deepseek-ls ({name})"] = {**env, "PYTHONPATH": str(Path(tree).resolve())}
            arms[f"deepseek-ls ({name})"] = functools.partial(
                time_initialize, [py, "-m", "deepseek_ls"], also[f"deepseek-ls ({name})"], params)
        for arm in arms.values():  # one warm-up start each: bytecode and the page cache are warm
            arm()
        runs: dict[str, list[Run]] = {name: [] for name in arms}
        for _ in range(args.n):
            for name, arm in arms.items():
                runs[name].append(arm())
        rows = [] if args.no_importtime else importtime(env, params)
        compared = compare_answers({"deepseek-ls": env, **also}, tmp) if also else []

    times = {name: [r.wall_s for r in rs] for name, rs in runs.items()}
    cpu = {name: statistics.median(r.cpu_s for r in rs) for name, rs in runs.items()}
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"Start-up to the initialize answer, {args.n} rounds, Python {sys.version.split()[0]} "
          f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f})\n")
    print("| arm | median ms | p90 ms | × python -c pass | × bare pygls | CPU ms, whole run (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {1000 * medians[name]:.0f} | {1000 * percentile(values, 0.9):.0f} "
              f"| {medians[name] / medians['python -c pass']:.1f} | {medians[name] / medians['bare pygls server']:.2f} "
              f"| {1000 * cpu[name]:.0f} |")
    over = medians["deepseek-ls"] - medians["bare pygls server"]
    print(f"\ndeepseek-ls over the bare pygls server: {1000 * over:+.0f} ms (median)")

    if rows:
        total = sum(r[1] for r in rows)
        print(f"\nImports up to the initialize answer (python -X importtime): {len(rows)} modules, "
              f"{total / 1000:.0f} ms own time in all\n")
        print("| module | own ms | cumulative ms |")
        print("|---|---:|---:|")
        for name, own, cumulative, _ in sorted(rows, key=lambda r: -r[1])[:args.top]:
            print(f"| {name} | {own / 1000:.1f} | {cumulative / 1000:.1f} |")
        print("\n| package | own ms | modules |")
        print("|---|---:|---:|")
        for name, own, count in package_totals(rows)[:args.top]:
            print(f"| {name} | {own / 1000:.1f} | {count} |")
        ours = sorted(r[0] for r in rows if r[0].startswith("deepseek_ls"))
        print(f"\ndeepseek_ls modules imported before the answer ({len(ours)}): {', '.join(ours)}")

    if compared:
        print(f"\nThe initialize answers of {', '.join(['deepseek-ls', *also])}, byte for byte:\n")
        print("| client | identical |")
        print("|---|---|")
        for name, same, _ in compared:
            print(f"| {name} | {'yes' if same else '**NO**'} |")
        for name, same, answers in compared:
            if not same:
                print(f"\n{name}:")
                for who, body in answers.items():
                    print(f"  {who}: {body.decode(errors='replace')}")

    if args.json:
        Path(args.json).write_text(json.dumps({
            "rounds": args.n, "python": sys.version.split()[0],
            "arms": {name: {"median_ms": 1000 * medians[name], "p90_ms": 1000 * percentile(v, 0.9),
                            "runs_ms": [1000 * t for t in v], "cpu_median_ms": 1000 * cpu[name]}
                     for name, v in times.items()},
            "imports": [{"module": r[0], "own_us": r[1], "cumulative_us": r[2]} for r in rows],
            "answers_identical": {name: same for name, same, _ in compared},
        }, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
