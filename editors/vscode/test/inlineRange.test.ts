/**
 * The accept path of ghost text in VS Code: the server's inline completion item
 * carries a range that may run past the cursor over closers the suggestion
 * replaces (`def area(|)` + `width: float) -> float:` with the `)` in the range).
 * The extension does not convert items itself: vscode-languageclient's protocol
 * converter turns each item into a `vscode.InlineCompletionItem(insertText,
 * range, command)`, and VS Code replaces that range on accept. This test runs
 * that converter (the one the extension bundles) against a small stand-in for
 * the `vscode` module and checks the range arrives unchanged, in UTF-16 columns
 * (JavaScript strings and VS Code positions both count UTF-16 code units), and
 * that replacing it gives exactly the line the server means.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

// ---- a stand-in for the `vscode` module, enough for the protocol converter ----
class Position { constructor(readonly line: number, readonly character: number) {} }
class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(sl: number, sc: number, el: number, ec: number) {
    this.start = new Position(sl, sc);
    this.end = new Position(el, ec);
  }
}
class InlineCompletionItem {
  constructor(readonly insertText: unknown, readonly range?: Range, readonly command?: unknown) {}
}
class InlineCompletionList { constructor(readonly items: InlineCompletionItem[]) {} }
class SnippetString { constructor(readonly value: string) {} }
const known: Record<string, unknown> = { __esModule: true, Position, Range, InlineCompletionItem, InlineCompletionList, SnippetString };
// everything else the library touches while loading (classes it extends, enums): an empty class
const fakeVscode = new Proxy(known, {
  get: (target, key: string) => (key in target ? target[key] : (target[key] = class {})),
});
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: fakeVscode } as unknown as NodeJS.Module;
// the package exports only its entry points: load the converter module by its file
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { join, dirname } = require('node:path');
const libDir = dirname(dirname(require.resolve('vscode-languageclient/node'))); // .../lib
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createConverter } = require(join(libDir, 'common', 'protocolConverter.js'));

/** The document line after VS Code replaces `range` (one line) by `text`. */
function applied(line: string, range: Range, text: string): string {
  assert.equal(range.start.line, range.end.line, 'VS Code wants a single-line range');
  return line.slice(0, range.start.character) + text + line.slice(range.end.character);
}

const command = { title: 'DeepSeek: accept', command: 'deepseek.acceptCompletion', arguments: [{ id: 's1' }] };

for (const head of ['def area(', 'def area😀(', 'def 面积_😀😀(']) {
  test(`the item's range over a closer reaches VS Code unchanged: ${head}`, async () => {
    const line = `${head})`;
    const at = head.length; // UTF-16 code units, as the server counts them by default
    const text = 'width: float) -> float:';
    const p2c = createConverter(undefined, false, false);
    const result = await p2c.asInlineCompletionResult({
      items: [{ insertText: text, range: { start: { line: 0, character: at }, end: { line: 0, character: at + 1 } }, command }],
    });
    const items: InlineCompletionItem[] = Array.isArray(result) ? result : result.items;
    assert.equal(items.length, 1);
    const item = items[0];
    assert.equal(item.insertText, text);
    assert.ok(item.range instanceof Range);
    assert.deepEqual([item.range.start.line, item.range.start.character, item.range.end.line, item.range.end.character],
      [0, at, 0, at + 1]);
    assert.equal(applied(line, item.range, text), `${head.slice(0, -1)}(width: float) -> float:`);
    assert.deepEqual(item.command, { title: command.title, command: command.command, arguments: command.arguments },
      'the accept command (deepseek.acceptCompletion) comes along');
  });
}

test('an item without a range stays without one (VS Code inserts at the cursor)', async () => {
  const p2c = createConverter(undefined, false, false);
  const result = await p2c.asInlineCompletionResult({ items: [{ insertText: 'x' }] });
  const items: InlineCompletionItem[] = Array.isArray(result) ? result : result.items;
  assert.equal(items[0].range, undefined);
});
