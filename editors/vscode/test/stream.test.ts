import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { StreamAssembler, StreamRouter } from '../src/stream';

test('deltas build the answer; done carries the final result', () => {
  const a = new StreamAssembler();
  assert.equal(a.state, 'pending');
  assert.ok(a.apply({ stream: 's', session: 'abc', event: 'begin' }));
  assert.equal(a.state, 'streaming');
  a.apply({ stream: 's', event: 'reasoning', text: 'Think' });
  a.apply({ stream: 's', event: 'reasoning', text: 'ing.' });
  a.apply({ stream: 's', event: 'content', text: 'Hello ' });
  a.apply({ stream: 's', event: 'content', text: 'world' });
  assert.equal(a.reasoning, 'Thinking.');
  assert.equal(a.content, 'Hello world');
  assert.equal(a.session, 'abc');
  a.apply({ stream: 's', event: 'done', result: { session: 'abc', content: 'Hello world!', usage: { costUsd: 0.1 } } });
  assert.equal(a.state, 'done');
  assert.equal(a.content, 'Hello world!', 'the result wins over the deltas');
  assert.deepEqual(a.usage, { costUsd: 0.1 });
  assert.equal(a.apply({ stream: 's', event: 'content', text: 'late' }), false, 'nothing after done');
  assert.equal(a.content, 'Hello world!');
});

test('the command response completes an answer whose notifications were lost', () => {
  const a = new StreamAssembler();
  a.finish({ session: 'x', content: 'full answer', reasoning: 'r' });
  assert.equal(a.state, 'done');
  assert.equal(a.content, 'full answer');
  assert.equal(a.reasoning, 'r');
  assert.equal(a.session, 'x');
});

test('an empty result content keeps the streamed text', () => {
  const a = new StreamAssembler();
  a.apply({ stream: 's', event: 'content', text: 'partial' });
  a.finish({ session: 'x', content: '' });
  assert.equal(a.content, 'partial');
});

test('error keeps the partial text; later events are ignored', () => {
  const a = new StreamAssembler();
  a.apply({ stream: 's', event: 'content', text: 'Half' });
  a.apply({ stream: 's', event: 'error', message: 'HTTP 503' });
  assert.equal(a.state, 'error');
  assert.equal(a.error, 'HTTP 503');
  assert.equal(a.content, 'Half');
  a.finish({ session: 'x', content: 'never' });
  assert.equal(a.state, 'error');
  assert.equal(a.content, 'Half');
});

test('a cancelled answer ends as cancelled, whatever the last event', () => {
  const a = new StreamAssembler();
  a.apply({ stream: 's', event: 'content', text: 'Some' });
  a.requestCancel();
  a.fail('cancelled');
  assert.equal(a.state, 'cancelled');
  const b = new StreamAssembler();
  b.requestCancel();
  b.finish({ session: 'x', content: 'Some text' });
  assert.equal(b.state, 'cancelled');
  assert.equal(b.content, 'Some text');
});

test('done without a result, then the response', () => {
  const a = new StreamAssembler();
  a.apply({ stream: 's', event: 'content', text: 'abc' });
  a.apply({ stream: 's', event: 'done' });
  assert.equal(a.state, 'done');
  a.finish({ session: 'x', content: 'abc' });
  assert.equal(a.content, 'abc');
});

test('the router dispatches by stream id and ignores the rest', () => {
  const r = new StreamRouter();
  const one = new StreamAssembler();
  const two = new StreamAssembler();
  r.add('one', one);
  r.add('two', two);
  assert.equal(r.dispatch({ stream: 'one', event: 'content', text: 'A' })?.assembler, one);
  assert.equal(r.dispatch({ stream: 'two', event: 'content', text: 'B' })?.stream, 'two');
  assert.equal(r.dispatch({ stream: 'other', event: 'content', text: 'C' }), undefined);
  assert.equal(r.dispatch(null), undefined);
  assert.equal(r.dispatch({ event: 'content', text: 'no stream' }), undefined);
  assert.equal(r.dispatch({ stream: 'one', event: 'content', text: '' }), undefined, 'empty delta: no change');
  assert.equal(one.content, 'A');
  assert.equal(two.content, 'B');
  r.remove('one');
  assert.equal(r.size, 1);
  assert.equal(r.dispatch({ stream: 'one', event: 'content', text: 'X' }), undefined);
});
