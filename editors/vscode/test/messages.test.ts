import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { presentation } from '../src/messages';

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
