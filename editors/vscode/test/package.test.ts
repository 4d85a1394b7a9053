import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const EXT_DIR = path.resolve(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(EXT_DIR, 'package.json'), 'utf8'));
// the commands are registered in commands.ts (extension.ts only wires the parts)
const source = fs.readFileSync(path.join(EXT_DIR, 'src/commands.ts'), 'utf8');

/** Commands the server registers through executeCommandProvider (docs/PROTOCOL.md). */
const SERVER_COMMANDS = ['deepseek.chat', 'deepseek.explainSelection', 'deepseek.cancel', 'deepseek.rewriteSelection',
  'deepseek.toggleAutoCompletion', 'deepseek.usage', 'deepseek.acceptCompletion'];

test('contributed commands do not clash with the server commands the client registers', () => {
  const ids: string[] = pkg.contributes.commands.map((c: { command: string }) => c.command);
  for (const id of ids) assert.ok(!SERVER_COMMANDS.includes(id), `${id} would clash with the language client`);
  assert.equal(new Set(ids).size, ids.length);
});

test('every contributed command is registered, and every registered one contributed', () => {
  const contributed = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const registered = new Set(Array.from(source.matchAll(/cmd\('([^']+)'/g), (m) => m[1]));
  assert.deepEqual([...registered].sort(), [...contributed].sort());
  const titles = pkg.contributes.commands.map((c: { category: string; title: string }) => `${c.category}: ${c.title}`);
  for (const t of ['DeepSeek: Set API Key', 'DeepSeek: Explain Selection', 'DeepSeek: Chat', 'DeepSeek: Cancel']) {
    assert.ok(titles.includes(t), `command "${t}" exists`);
  }
});

test('bundled entry point, engine and language client version', () => {
  assert.equal(pkg.main, './dist/extension.js');
  assert.equal(pkg.dependencies['vscode-languageclient'], '11.0.0');
  assert.match(pkg.engines.vscode, /^\^1\.9\d/);
});

test('the README documents every setting', () => {
  const readme = fs.readFileSync(path.join(EXT_DIR, 'README.md'), 'utf8');
  for (const key of Object.keys(pkg.contributes.configuration.properties)) {
    assert.ok(readme.includes(`| \`${key}\` |`), `${key} is in the README's settings table (run scripts/sync-settings.py)`);
  }
});

test('the packaged README has no link that is dead on the extension page', () => {
  const readme = fs.readFileSync(path.join(EXT_DIR, 'README.md'), 'utf8');
  const links = Array.from(readme.matchAll(/\]\(([^)]+)\)/g), (m) => m[1]);
  for (const link of links) {
    assert.ok(!link.startsWith('..'), `${link} points outside the package`);
    if (/^(https?:|#)/.test(link)) continue;
    assert.ok(fs.existsSync(path.join(EXT_DIR, link)), `${link} is in the extension folder`);
  }
});
