import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { answerDefinitions, LookUp, parseParams, ProviderAnswer, toLsp } from '../src/definitions';

/** Stand-ins with the shapes of vscode.Uri / Position / Range (classes, as VS Code's are). */
class Uri { constructor(private readonly s: string) {} toString(): string { return this.s; } }
class Position { constructor(readonly line: number, readonly character: number) {} }
class Range { constructor(readonly start: Position, readonly end: Position) {} }
const r = (l1: number, c1: number, l2: number, c2: number) => new Range(new Position(l1, c1), new Position(l2, c2));
const lsp = (l1: number, c1: number, l2: number, c2: number) =>
  ({ start: { line: l1, character: c1 }, end: { line: l2, character: c2 } });

const DOC = 'file:///w/calc.py';
const SHAPES = 'file:///w/shapes.py';

test('Location and LocationLink become LSP JSON (0-based, uri strings, no extra fields)', () => {
  assert.deepEqual(toLsp([{ uri: new Uri(SHAPES), range: r(3, 4, 3, 8) }]), [{ uri: SHAPES, range: lsp(3, 4, 3, 8) }]);
  assert.deepEqual(toLsp({ uri: new Uri(SHAPES), range: r(0, 0, 0, 1) }), [{ uri: SHAPES, range: lsp(0, 0, 0, 1) }],
    'a single Location is a list of one');
  assert.deepEqual(toLsp([{
    targetUri: new Uri(SHAPES), targetRange: r(7, 0, 9, 0), targetSelectionRange: r(7, 12, 7, 21),
    originSelectionRange: r(2, 12, 2, 21),
  }]), [{ targetUri: SHAPES, targetRange: lsp(7, 0, 9, 0), targetSelectionRange: lsp(7, 12, 7, 21),
    originSelectionRange: lsp(2, 12, 2, 21) }]);
  assert.deepEqual(toLsp([{ targetUri: new Uri(SHAPES), targetRange: r(1, 0, 2, 0) }]),
    [{ targetUri: SHAPES, targetRange: lsp(1, 0, 2, 0), targetSelectionRange: lsp(1, 0, 2, 0) }],
    'a link without a selection range selects its target range');
});

test('no answer, an empty answer and entries without a place give nothing', () => {
  assert.deepEqual(toLsp(undefined), []);
  assert.deepEqual(toLsp(null), []);
  assert.deepEqual(toLsp([]), []);
  assert.deepEqual(toLsp([null, { uri: new Uri(SHAPES) }] as never), []);
});

test('params: malformed requests are recognised', () => {
  assert.equal(parseParams(null), undefined);
  assert.equal(parseParams({ positions: [] }), undefined);
  assert.equal(parseParams({ textDocument: { uri: 1 }, positions: [] }), undefined);
  assert.equal(parseParams({ textDocument: { uri: DOC }, positions: 'x' }), undefined);
  assert.deepEqual(parseParams({ textDocument: { uri: DOC }, positions: [] }), { textDocument: { uri: DOC }, positions: [] });
});

test('the result is parallel to the positions: found, nothing, failed, invalid', async () => {
  const asked: [string, number, number][] = [];
  const lookUp: LookUp = async (uri, p) => {
    asked.push([uri, p.line, p.character]);
    if (p.line === 1) return [{ uri: new Uri(SHAPES), range: r(3, 4, 3, 8) }];
    if (p.line === 2) return [];
    throw new Error('provider failed');
  };
  const result = await answerDefinitions({
    textDocument: { uri: DOC },
    positions: [{ line: 1, character: 13 }, { line: 2, character: 0 }, { line: 3, character: 2 }, { line: -1, character: 0 },
      { line: 1.5, character: 0 }, null],
  }, lookUp, 5000);
  assert.deepEqual(result, [[{ uri: SHAPES, range: lsp(3, 4, 3, 8) }], null, null, null, null, null]);
  assert.deepEqual(asked, [[DOC, 1, 13], [DOC, 2, 0], [DOC, 3, 2]], 'invalid positions are not looked up');
});

test('the UTF-16 columns after emoji and CJK go to the providers and back unchanged', async () => {
  // line 's = "面积😀"; a = area(2, 3)': 'area' starts at UTF-16 column 16 (😀 is two code units)
  const line = 's = "面积😀"; a = area(2, 3)';
  const col = line.indexOf('area');
  assert.equal(col, 16);
  const result = await answerDefinitions({ textDocument: { uri: DOC }, positions: [{ line: 1, character: col }] },
    async (_uri, p) => [{ targetUri: new Uri(SHAPES), targetRange: r(7, 0, 7, 40), targetSelectionRange: r(7, 12, 7, 21),
      originSelectionRange: r(p.line, p.character, p.line, p.character + 4) }], 5000);
  assert.deepEqual(result, [[{ targetUri: SHAPES, targetRange: lsp(7, 0, 7, 40), targetSelectionRange: lsp(7, 12, 7, 21),
    originSelectionRange: lsp(1, 16, 1, 20) }]]);
});

test('the deadline answers with what arrived; a late answer does not change it', async () => {
  let late: (v: ProviderAnswer) => void = () => undefined;
  const result = await answerDefinitions({
    textDocument: { uri: DOC }, positions: [{ line: 0, character: 0 }, { line: 5, character: 0 }],
  }, (_uri, p) => p.line === 0
    ? Promise.resolve([{ uri: new Uri(SHAPES), range: r(0, 0, 0, 1) }])
    : new Promise<ProviderAnswer>((resolve) => { late = resolve; }), 20);
  assert.deepEqual(result, [[{ uri: SHAPES, range: lsp(0, 0, 0, 1) }], null]);
  late([{ uri: new Uri(SHAPES), range: r(1, 0, 1, 1) }]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(result, [[{ uri: SHAPES, range: lsp(0, 0, 0, 1) }], null]);
});

test('a cancelled request answers at once with what is there', async () => {
  let cancel: () => void = () => undefined;
  const token = { onCancellationRequested: (listener: () => void) => { cancel = listener; } };
  const pending = answerDefinitions({ textDocument: { uri: DOC }, positions: [{ line: 0, character: 0 }] },
    () => new Promise<ProviderAnswer>(() => undefined), 60000, token);
  cancel();
  assert.deepEqual(await pending, [null]);
});

test('malformed params: null as a whole; no positions: an empty list', async () => {
  const never: LookUp = () => { throw new Error('not called'); };
  assert.equal(await answerDefinitions(undefined, never), null);
  assert.equal(await answerDefinitions({ textDocument: {}, positions: [] }, never), null);
  assert.deepEqual(await answerDefinitions({ textDocument: { uri: DOC }, positions: [] }, never), []);
});
