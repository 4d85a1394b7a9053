import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Change, CompletionFeedback, suggestionId } from '../src/feedback';

const URI = 'file:///w/calc.py';
const insert = (line: number, character: number, text: string): Change =>
  ({ range: { start: { line, character }, end: { line, character } }, text });

function setup() {
  const sent: [string, Record<string, unknown>][] = [];
  const fb = new CompletionFeedback((m, p) => sent.push([m, p]));
  return { sent, fb };
}

test('suggestionId reads the id of deepseek.acceptCompletion only', () => {
  assert.equal(suggestionId({ command: 'deepseek.acceptCompletion', arguments: [{ id: 'abc' }] }), 'abc');
  assert.equal(suggestionId({ command: 'other', arguments: [{ id: 'abc' }] }), undefined);
  assert.equal(suggestionId({ command: 'deepseek.acceptCompletion', arguments: [] }), undefined);
  assert.equal(suggestionId(undefined), undefined);
});

test('shown is reported once per suggestion id', () => {
  const { sent, fb } = setup();
  fb.shown(URI, { line: 1, character: 7 }, [{ id: 's1', text: 'urn a + b' }]);
  fb.shown(URI, { line: 1, character: 7 }, [{ id: 's1', text: 'urn a + b' }]);
  fb.shown(URI, { line: 1, character: 7 }, [{ id: undefined, text: 'x' }]);
  fb.shown(URI, { line: 1, character: 7 }, [{ id: 's2', text: '' }]);
  assert.deepEqual(sent, [['deepseek/didShowCompletion', { id: 's1' }]]);
});

test('accept word and accept line are reported with the UTF-16 length accepted so far', () => {
  const { sent, fb } = setup();
  const text = 'total = add(1, 2)\nprint(total, "😀")';
  fb.shown(URI, { line: 3, character: 4 }, [{ id: 's1', text }]);
  fb.changed(URI, [insert(3, 4, 'total ')]);                        // Ctrl+Right: a word
  fb.changed(URI, [insert(3, 10, '= add(1, 2)\n')]);                 // the rest of the line
  fb.changed(URI, [insert(4, 0, 'print(total, ')]);                  // a word of the next line
  assert.deepEqual(sent.slice(1), [
    ['deepseek/didPartiallyAcceptCompletion', { id: 's1', acceptedLength: 6 }],
    ['deepseek/didPartiallyAcceptCompletion', { id: 's1', acceptedLength: 18 }],
    ['deepseek/didPartiallyAcceptCompletion', { id: 's1', acceptedLength: 31 }],
  ]);
  assert.equal('"😀"'.length, 4); // an emoji is two UTF-16 units
  fb.changed(URI, [insert(4, 13, '"😀")')]);                         // the end: the item's command reports it
  assert.equal(sent.length, 4);
  assert.equal(fb.current, undefined);
});

test('typing through the suggestion is not an accept; a different edit ends it', () => {
  const { sent, fb } = setup();
  fb.shown(URI, { line: 1, character: 7 }, [{ id: 's1', text: 'urn a + b' }]);
  fb.changed(URI, [insert(1, 7, 'u')]);
  fb.changed(URI, [insert(1, 8, 'r')]);
  assert.equal(sent.length, 1);
  assert.equal(fb.current, 's1');
  fb.changed(URI, [insert(1, 9, 'n a')]);                            // an accepted word after typing
  assert.deepEqual(sent[1], ['deepseek/didPartiallyAcceptCompletion', { id: 's1', acceptedLength: 5 }]);
  fb.changed(URI, [insert(1, 12, 'zz')]);                            // not the suggestion
  assert.equal(fb.current, undefined);
  fb.changed(URI, [insert(1, 14, ' + b')]);
  assert.equal(sent.length, 2);
});

test('edits elsewhere, in other documents or several at once', () => {
  const { sent, fb } = setup();
  fb.shown(URI, { line: 1, character: 7 }, [{ id: 's1', text: 'urn a + b' }]);
  fb.changed('file:///w/other.py', [insert(1, 7, 'urn')]);           // another document: ignored
  assert.equal(fb.current, 's1');
  fb.changed(URI, [insert(0, 0, 'urn')]);                            // not at the cursor
  assert.equal(fb.current, undefined);
  fb.shown(URI, { line: 1, character: 7 }, [{ id: 's2', text: 'urn a + b' }]);
  fb.changed(URI, [insert(1, 7, 'ur'), insert(2, 0, 'x')]);          // multi-cursor: not an accept
  assert.equal(fb.current, undefined);
  assert.deepEqual(sent.map((s) => s[0]), ['deepseek/didShowCompletion', 'deepseek/didShowCompletion']);
});

test('an item whose range starts before the cursor counts what was typed', () => {
  const { sent, fb } = setup();
  fb.shown(URI, { line: 1, character: 9 }, [{ id: 's1', text: 'return a + b', start: { line: 1, character: 4 } }]);
  fb.changed(URI, [insert(1, 9, 'n a ')]);
  assert.deepEqual(sent[1], ['deepseek/didPartiallyAcceptCompletion', { id: 's1', acceptedLength: 9 }]);
});
