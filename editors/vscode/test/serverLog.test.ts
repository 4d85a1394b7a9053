import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { LineSplitter, parseServerLogLine } from '../src/serverLog';

test('levels of the server log lines', () => {
  assert.deepEqual(parseServerLogLine('2026-11-21 23:13:17,834 INFO deepseek_ls.service: settings: {}'),
    { level: 'info', text: 'deepseek_ls.service: settings: {}' });
  assert.deepEqual(parseServerLogLine('2026-11-21 23:13:17,862 WARNING deepseek_ls.server: missing-key: x'),
    { level: 'warn', text: 'deepseek_ls.server: missing-key: x' });
  assert.equal(parseServerLogLine('2026-11-21 23:13:17,862 DEBUG a: b').level, 'debug');
  assert.equal(parseServerLogLine('2026-11-21T23:13:17.862 ERROR a: b').level, 'error');
  assert.equal(parseServerLogLine('2026-11-21 23:13:17 CRITICAL a: b').level, 'error');
  assert.deepEqual(parseServerLogLine('WARNING: something'), { level: 'warn', text: 'something' });
});

test('lines without a level keep the previous one (tracebacks)', () => {
  assert.deepEqual(parseServerLogLine('Traceback (most recent call last):', 'error'), { level: 'error', text: 'Traceback (most recent call last):' });
  assert.equal(parseServerLogLine('  File "x.py", line 1').level, 'info');
});

test('LineSplitter joins chunks split mid-line', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('one\ntw'), ['one']);
  assert.deepEqual(s.push('o\r\nthree'), ['two']);
  assert.deepEqual(s.push('\n\n'), ['three']);
  assert.deepEqual(s.push('tail'), []);
  assert.deepEqual(s.flush(), ['tail']);
  assert.deepEqual(s.flush(), []);
});
