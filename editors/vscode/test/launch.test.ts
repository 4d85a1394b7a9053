import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { expandPath, LaunchProbe, resolveLaunch, which } from '../src/launch';

function probe(files: string[], importable: Record<string, boolean> = {}, env: Record<string, string> = { PATH: '/usr/bin:/opt/bin' }): LaunchProbe & { imports: string[] } {
  const imports: string[] = [];
  return {
    imports,
    isExecutable: (f) => files.includes(f),
    canImport: async (python, module) => {
      imports.push(`${python}:${module}`);
      return importable[python] ? { ok: true } : { ok: false, error: "ModuleNotFoundError: No module named 'deepseek_ls'" };
    },
    env, platform: 'linux', home: '/home/u', workspaceFolder: '/ws',
  };
}

test('expandPath', () => {
  assert.equal(expandPath(' ~/bin/deepseek-ls ', '/home/u'), '/home/u/bin/deepseek-ls');
  assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', '/home/u', '/ws'), '/ws/.venv/bin/python');
  assert.equal(expandPath('${userHome}/x', '/home/u'), '/home/u/x');
  assert.equal(expandPath('/a/~b', '/home/u'), '/a/~b');
});

test('which searches PATH in order, with PATHEXT on Windows', () => {
  assert.equal(which('deepseek-ls', probe(['/opt/bin/deepseek-ls'])), '/opt/bin/deepseek-ls');
  assert.equal(which('deepseek-ls', probe(['/usr/bin/deepseek-ls', '/opt/bin/deepseek-ls'])), '/usr/bin/deepseek-ls');
  assert.equal(which('deepseek-ls', probe([])), undefined);
  const win = { isExecutable: (f: string) => f.endsWith('deepseek-ls.EXE'), env: { Path: 'C:\\py\\Scripts;C:\\x', PATHEXT: '.COM;.EXE' }, platform: 'win32' };
  assert.match(which('deepseek-ls', win) ?? '', /deepseek-ls\.EXE$/);
});

test('serverPath wins and gets the extra args', async () => {
  const r = await resolveLaunch({ serverPath: '~/venv/bin/deepseek-ls', pythonPath: '/usr/bin/python3', serverArgs: ['--log-file', 'x'] },
    probe(['/home/u/venv/bin/deepseek-ls', '/usr/bin/python3']));
  assert.deepEqual(r, { ok: true, command: '/home/u/venv/bin/deepseek-ls', args: ['--log-file', 'x'], description: '/home/u/venv/bin/deepseek-ls' });
});

test('a serverPath that is not there says so and how to fix it', async () => {
  const r = await resolveLaunch({ serverPath: '/nope/deepseek-ls' }, probe([]));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(r.message, /deepseek\.serverPath is "\/nope\/deepseek-ls", which is not an executable file/);
    assert.match(r.detail ?? '', /pipx install \./);
  }
});

test('pythonPath runs the module once the import check passes', async () => {
  const p = probe(['/ws/.venv/bin/python'], { '/ws/.venv/bin/python': true });
  const r = await resolveLaunch({ pythonPath: '${workspaceFolder}/.venv/bin/python' }, p);
  assert.deepEqual(r, { ok: true, command: '/ws/.venv/bin/python', args: ['-P', '-m', 'deepseek_ls'], description: '/ws/.venv/bin/python -P -m deepseek_ls' });
  assert.deepEqual(p.imports, ['/ws/.venv/bin/python:deepseek_ls']);
});

test('a bare pythonPath is looked up on PATH', async () => {
  const r = await resolveLaunch({ pythonPath: 'python3' }, probe(['/usr/bin/python3'], { '/usr/bin/python3': true }));
  assert.equal(r.ok && r.command, '/usr/bin/python3');
});

test('a Python without the package: the pip command to run', async () => {
  const r = await resolveLaunch({ pythonPath: '/usr/bin/python3' }, probe(['/usr/bin/python3']));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(r.message, /"\/usr\/bin\/python3" cannot import deepseek_ls.*\/usr\/bin\/python3 -m pip install \/path\/to\/your\/clone\/of\/deepseek-ls/);
    assert.match(r.detail ?? '', /No module named/);
  }
  const missing = await resolveLaunch({ pythonPath: '/nope/python' }, probe([]));
  assert.ok(!missing.ok && /not an executable file/.test(missing.message));
});

test('nothing configured: deepseek-ls from PATH, else install instructions', async () => {
  const r = await resolveLaunch({}, probe(['/opt/bin/deepseek-ls']));
  assert.deepEqual(r, { ok: true, command: '/opt/bin/deepseek-ls', args: [], description: '/opt/bin/deepseek-ls' });
  const none = await resolveLaunch({ serverPath: '  ', pythonPath: '' }, probe([]));
  assert.equal(none.ok, false);
  if (!none.ok) {
    assert.match(none.message, /"deepseek-ls" was not found on PATH/);
    assert.match(none.detail ?? '', /deepseek\.serverPath.*deepseek\.pythonPath/);
  }
});
