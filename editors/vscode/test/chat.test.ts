import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChatModel, explainPrompt, fence } from '../src/chat';

/** A fake server: streams `answer` word by word, then returns the result. */
function fakeServer(answer: string, sessions: string[] = ['s-1']) {
  const calls: Array<{ command: string; arg: Record<string, unknown> }> = [];
  let model!: ChatModel;
  const exec = async (command: string, arg: Record<string, unknown>) => {
    calls.push({ command, arg });
    if (command === 'deepseek.cancel') return { cancelled: 1 };
    if (command === 'deepseek.chat' && arg.message === 'fail') throw Object.assign(new Error('Request failed: 401 invalid key'), { code: -32603 });
    const session = (arg.session as string) ?? sessions.shift()!;
    const stream = arg.stream as string;
    model.onStreamEvent({ stream, session, event: 'begin' });
    for (const word of answer.split(/(?<= )/)) {
      await new Promise((r) => setImmediate(r));
      model.onStreamEvent({ stream, session, event: 'content', text: word });
    }
    const result = { session, content: answer, usage: { requests: 1, costUsd: 0.0002 } };
    model.onStreamEvent({ stream, session, event: 'done', result });
    return result;
  };
  const changes: Array<number | undefined> = [];
  let n = 0;
  model = new ChatModel({ exec, onChange: (t) => changes.push(t?.id), newStreamId: () => `st-${++n}` });
  return { model, calls, changes };
}

test('explain then chat: one session, the follow-up carries it', async () => {
  const { model, calls, changes } = fakeServer('This function adds two numbers.');
  const t1 = await model.ask('explain', { uri: 'file:///a.py', range: { start: { line: 0, character: 0 }, end: { line: 1, character: 0 } } }, 'Explain');
  assert.equal(t1.answer.state, 'done');
  assert.equal(t1.answer.content, 'This function adds two numbers.');
  assert.equal(model.session, 's-1');
  assert.equal(calls[0].command, 'deepseek.explainSelection');
  assert.equal(calls[0].arg.stream, 'st-1');
  assert.equal(calls[0].arg.session, undefined, 'the first question opens a session');
  assert.ok(changes.filter((c) => c === t1.id).length >= 3, 'the panel hears about every delta');

  const t2 = await model.ask('chat', { message: 'why?' }, 'why?');
  assert.equal(calls[1].command, 'deepseek.chat');
  assert.deepEqual(calls[1].arg, { message: 'why?', stream: 'st-2', session: 's-1' });
  assert.equal(t2.answer.state, 'done');
  assert.equal(model.turns.length, 2);
  assert.equal(model.busy, false);
  assert.equal(model.router.size, 0, 'finished streams are unrouted');
});

test('streaming shows partial text before the command returns', async () => {
  const { model } = fakeServer('one two three');
  const seen: string[] = [];
  const pending = model.ask('chat', { message: 'count' }, 'count');
  assert.equal(model.busy, true);
  // Let a couple of deltas arrive.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    seen.push(model.turns[0].answer.content);
  }
  await pending;
  assert.ok(seen.some((s) => s && s !== 'one two three'), `partial text seen: ${JSON.stringify(seen)}`);
});

test('a failed command shows its error', async () => {
  const { model } = fakeServer('x');
  const t = await model.ask('chat', { message: 'fail' }, 'fail');
  assert.equal(t.answer.state, 'error');
  assert.equal(t.answer.error, 'Request failed: 401 invalid key');
  assert.equal(model.busy, false);
});

test('cancel asks the server to stop everything and marks running turns', async () => {
  const { model, calls } = fakeServer('a b c d e f');
  const pending = model.ask('chat', { message: 'long' }, 'long');
  const n = await model.cancel();
  assert.equal(n, 1);
  assert.deepEqual(calls.find((c) => c.command === 'deepseek.cancel')?.arg, {});
  const t = await pending;
  assert.equal(t.answer.state, 'cancelled');
});

test('reset starts a new session', async () => {
  const { model, calls } = fakeServer('ok', ['s-1', 's-2']);
  await model.ask('chat', { message: 'hi' }, 'hi');
  model.reset();
  assert.equal(model.turns.length, 0);
  await model.ask('chat', { message: 'hi again' }, 'hi again');
  assert.equal(calls[1].arg.session, undefined);
  assert.equal(model.session, 's-2');
});

test('fence is longer than any backtick run in the code', () => {
  assert.equal(fence('x = 1\n', 'python'), '```python\nx = 1\n```');
  assert.equal(fence('s = """```"""', 'python'), '````python\ns = """```"""\n````');
});

test('explainPrompt names the file and lines', () => {
  assert.equal(explainPrompt('src/a.py', 2, 2, 'python', 'x = 1'), 'Explain `src/a.py` line 3:\n\n```python\nx = 1\n```');
  assert.match(explainPrompt('a.py', 0, 4, 'python', 'def f(): pass'), /^Explain `a.py` lines 1–5:/);
});

test('a stream started elsewhere gets its own turn', () => {
  const { model } = fakeServer('x');
  model.onStreamEvent({ stream: 'server-7', session: 'z', event: 'content', text: 'ignored: no begin' });
  assert.equal(model.turns.length, 0);
  model.onStreamEvent({ stream: 'server-8', session: 'z', event: 'begin' });
  model.onStreamEvent({ stream: 'server-8', session: 'z', event: 'content', text: 'Hi' });
  model.onStreamEvent({ stream: 'server-8', session: 'z', event: 'done', result: { session: 'z', content: 'Hi there' } });
  assert.equal(model.turns.length, 1);
  assert.equal(model.turns[0].answer.content, 'Hi there');
  assert.equal(model.turns[0].answer.state, 'done');
  assert.equal(model.router.size, 0);
  assert.equal(model.busy, false);
  assert.equal(model.session, undefined, 'a foreign stream does not change the session');
});
