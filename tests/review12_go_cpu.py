"""Review 12 figure: CPU of a Go re-analysis. Usage: python tests/review12_go_cpu.py FILES FUNCS_PER_FILE"""
import sys
import tempfile
import time
from pathlib import Path

from deepseek_ls.context import ContextConfig, ContextEngine
from deepseek_ls.features.context import _path_of

N = int(sys.argv[1])
ws = Path(tempfile.mkdtemp())
d = ws / "svc"
d.mkdir()
(ws/"go.mod").write_text("module example.com/m\n\ngo 1.21\n")
for i in range(N):
    body = "package svc\n\n" + "".join(f"func F{i}_{j}(a int) int {{\n\treturn a + F{(i+1)%N}_{j}(a)\n}}\n\n" for j in range(int(sys.argv[2])))
    (d/f"f{i:05d}.go").write_text(body)
uri = (d/"main.go").as_uri()
text = "package svc\n\nfunc Main() {\n\tx := F1_1(2)\n\t_ = x\n}\n"
e = ContextEngine(ContextConfig(), path_of=_path_of)
e.set_roots([str(ws)])
t = time.process_time()
t0 = time.perf_counter()
e.opened(uri, text, "go", 1)   # no loop: analysed synchronously
print(f"{N} files: first analysis {time.perf_counter()-t0:.2f}s wall, {time.process_time()-t:.2f}s CPU")
for k in range(2):
    t = time.process_time()
    t0 = time.perf_counter()
    e._store(e._analyse(uri, k + 2, text + f"// {k}\n", "go"))
    print(f"  re-analysis after a keystroke (one file changed): {time.perf_counter()-t0:.2f}s wall, {time.process_time()-t:.2f}s CPU")
