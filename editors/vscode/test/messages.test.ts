import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { keyInputProblem, presentation } from '../src/messages';

test('key messages become a notice that closes when the key changes', () => {
  assert.equal(presentation(1, 'DeepSeek: No DeepSeek API key is configured. Run "DeepSeek: Set API Key" from the Command Palette.'), 'keyNotice');
  assert.equal(presentation(1, 'DeepSeek: DeepSeek API error 401: Authentication Fails. The API key was rejected. Run "DeepSeek: Set API Key"'), 'keyNotice');
});

test('other messages keep their severity', () => {
  assert.equal(presentation(1, 'DeepSeek: DeepSeek API error 402: Insufficient Balance. Top up.'), 'error');
  assert.equal(presentation(2, 'DeepSeek: DeepSeek does not serve deepseek.completion.model'), 'warning');
  assert.equal(presentation(3, 'DeepSeek: API key stored'), 'info');
  assert.equal(presentation(4, 'log'), 'info');
});

test('every key problem closes when the key changes, however the key was named', () => {
  for (const message of [
    'DeepSeek: DEEPSEEK_API_KEY contains a space at character 8 of 14; an API key is ASCII letters, digits and dashes only.',
    'DeepSeek: the API key stored with "DeepSeek: Set API Key" contains a non-ASCII character (U+00EB) at character 5 of 7; …',
    'DeepSeek: deepseek.apiKey contains a line break or other white space (U+000A) at character 20 of 21; …',
    'DeepSeek settings: deepseek.completion.debounceMs = -5: must be at least 0; using the default. DEEPSEEK_API_KEY contains a tab at character 4 of 9; …',
    'DeepSeek: The DeepSeek API key contains spaces, non-ASCII or control characters. Paste only the key itself.',
  ]) {
    assert.equal(presentation(1, message), 'keyNotice', message);
    assert.equal(presentation(2, message), 'keyNotice', message);
  }
  assert.equal(presentation(2, 'DeepSeek: deepseek.baseUrl must not carry credentials (user:password@); give the key in deepseek.apiKey.'), 'warning');
});

test('the Set API Key box says what is wrong with a pasted key, never quoting it', () => {
  assert.equal(keyInputProblem('sk-0123456789abcdef'), undefined);
  assert.equal(keyInputProblem('  sk-0123456789abcdef\n'), undefined, 'surrounding white space is trimmed');
  assert.match(keyInputProblem('')!, /Enter the key/);
  const space = keyInputProblem('sk-test my key')!;
  assert.match(space, /a space at character 8 of 14/);
  assert.ok(!space.includes('my key'));
  assert.match(keyInputProblem('sk-tëst')!, /a non-ASCII character \(U\+00EB\) at character 5 of 7/);
  assert.match(keyInputProblem('sk-a\u2013b')!, /U\+2013/, 'a typographic dash');
  assert.match(keyInputProblem('sk-a\tb')!, /a tab/);
});
