import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatStatus } from '../src/status';

const usage = { requests: 3, promptHitTokens: 10, promptMissTokens: 10, completionTokens: 5, costUsd: 0.001 };

test('failover: the status bar names the fallback endpoint that answers', () => {
  const view = formatStatus({
    phase: 'running', hasKey: true,
    status: { state: 'idle', autoCompletion: true, usage, endpoint: { name: 'ollama', primary: false } },
  });
  assert.match(view.text, /DeepSeek via ollama$/);
  assert.match(view.tooltip, /Answering: fallback endpoint ollama/);
  assert.equal(view.severity, 'normal');
});

test('failover: nothing extra while DeepSeek itself answers', () => {
  const view = formatStatus({
    phase: 'running', hasKey: true,
    status: { state: 'idle', autoCompletion: true, usage, endpoint: { name: 'deepseek', primary: true } },
  });
  assert.doesNotMatch(view.text, /via/);
  assert.doesNotMatch(view.tooltip, /fallback/);
  assert.match(view.text, /\$0\.0010/);
});
