import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { CLIENT_ONLY_KEYS, filterConfigurationResult, serverSettings, toPlain } from '../src/settings';

const EXT_DIR = path.resolve(__dirname, '../..');
const REPO = path.resolve(EXT_DIR, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(EXT_DIR, 'package.json'), 'utf8'));
const props: Record<string, any> = pkg.contributes.configuration.properties;

/** A WorkspaceConfiguration look-alike: data plus methods, as VS Code hands it out. */
function fakeConfiguration(data: Record<string, unknown>) {
  return { ...data, get: () => undefined, has: () => false, inspect: () => undefined, update: async () => undefined };
}

test('serverSettings drops client-only keys and methods, keeps nesting', () => {
  const section = fakeConfiguration({
    serverPath: '/x/deepseek-ls', pythonPath: '', serverArgs: ['-v'], trace: { server: 'verbose' },
    baseUrl: 'http://127.0.0.1:9', completion: { enabled: false, debounceMs: 50 }, chat: { model: 'deepseek-v4-pro' },
  });
  assert.deepEqual(serverSettings(section), {
    baseUrl: 'http://127.0.0.1:9', completion: { enabled: false, debounceMs: 50 }, chat: { model: 'deepseek-v4-pro' },
  });
  assert.deepEqual(serverSettings(undefined), {});
  assert.deepEqual(serverSettings(null), {});
  assert.deepEqual(serverSettings([1]), {});
  assert.deepEqual(toPlain({ a: [1, { b: undefined, c: null }] }), { a: [1, { c: null }] });
});

test('workspace/configuration answers: only the deepseek section is filtered', () => {
  const items = [{ section: 'deepseek' }, { section: 'deepseek.completion' }, { section: 'editor' }, {}];
  const result = [{ serverPath: 'x', logLevel: 'debug' }, { enabled: true }, { tabSize: 4 }, null];
  assert.deepEqual(filterConfigurationResult(items, result), [{ logLevel: 'debug' }, { enabled: true }, { tabSize: 4 }, null]);
});

test('every contributed setting is in the deepseek section and documented', () => {
  for (const [key, spec] of Object.entries(props)) {
    assert.match(key, /^deepseek\./);
    assert.ok(spec.description || spec.markdownDescription, `${key} has a description`);
    assert.ok('default' in spec, `${key} has a default`);
  }
  for (const key of ['deepseek.serverPath', 'deepseek.pythonPath', 'deepseek.completion.enabled', 'deepseek.trace.server']) {
    assert.ok(props[key], `${key} is contributed`);
  }
  assert.equal(props['deepseek.apiKey'], undefined, 'the API key is never a setting of the extension');
});

/** The server's own settings model, or undefined when it cannot be imported here. */
function serverSettingFields(): Array<{ key: string; default: unknown; lo: number | null; hi: number | null; choices: string[] | null; secret: boolean }> | undefined {
  const script = [
    'import json, dataclasses',
    'from deepseek_ls.settings import setting_fields',
    'print(json.dumps([dict(key=f.metadata["key"], default=f.default, lo=f.metadata["lo"], hi=f.metadata["hi"],',
    '  choices=f.metadata["choices"], secret=f.metadata["secret"]) for f in setting_fields()]))',
  ].join('\n');
  for (const python of [path.join(REPO, '.venv/bin/python'), 'python3']) {
    try {
      return JSON.parse(execFileSync(python, ['-c', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'], timeout: 30000 }).toString());
    } catch {
      // try the next interpreter
    }
  }
  return undefined;
}

test('the contributed settings mirror the server settings model', (t) => {
  const fields = serverSettingFields();
  if (!fields) {
    t.skip('deepseek_ls is not importable here');
    return;
  }
  // Deliberate differences: the key lives in the secret storage; the plugin shows chat itself.
  const overrides: Record<string, unknown> = { 'chat.transcripts': false };
  const serverKeys = new Set<string>();
  for (const f of fields) {
    serverKeys.add(f.key);
    const name = `deepseek.${f.key}`;
    if (f.secret) {
      assert.equal(props[name], undefined, `${name} is secret: not contributed`);
      continue;
    }
    const spec = props[name];
    assert.ok(spec, `server setting ${name} is contributed in package.json`);
    const expected = f.key in overrides ? overrides[f.key] : f.default;
    assert.deepEqual(spec.default, expected, `${name} default`);
    const type = Array.isArray(f.default) ? 'array' : typeof f.default === 'boolean' ? 'boolean' : typeof f.default === 'string' ? 'string'
      : Number.isInteger(f.default) && spec.type === 'integer' ? 'integer' : 'number';
    assert.equal(spec.type, type, `${name} type`);
    if (f.lo !== null) assert.equal(spec.minimum, f.lo, `${name} minimum`);
    if (f.hi !== null) assert.equal(spec.maximum, f.hi, `${name} maximum`);
    if (f.choices) assert.deepEqual(spec.enum, f.choices, `${name} enum`);
  }
  const clientOnly = new Set(CLIENT_ONLY_KEYS.map((k) => `deepseek.${k}`));
  for (const name of Object.keys(props)) {
    const key = name.slice('deepseek.'.length);
    if (clientOnly.has(name) || clientOnly.has(name.split('.').slice(0, 2).join('.'))) continue;
    assert.ok(serverKeys.has(key), `${name} is a server setting (or listed in CLIENT_ONLY_KEYS)`);
  }
});
