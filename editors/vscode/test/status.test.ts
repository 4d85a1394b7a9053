import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { autoCompletionOff, formatCost, formatStatus, hitPercent, ServerStatus } from '../src/status';

const usage = { requests: 12, promptHitTokens: 900, promptMissTokens: 100, completionTokens: 300, costUsd: 0.00123, hitRate: 0.9 };

test('formatCost', () => {
  assert.equal(formatCost(undefined), '$0.00');
  assert.equal(formatCost(0), '$0.00');
  assert.equal(formatCost(-1), '$0.00');
  assert.equal(formatCost(Number.NaN), '$0.00');
  assert.equal(formatCost(0.0000001), '<$0.000001');
  assert.equal(formatCost(0.00002), '$0.000020');
  assert.equal(formatCost(0.000034), '$0.000034');
  assert.equal(formatCost(0.00123), '$0.0012');
  assert.equal(formatCost(0.0042), '$0.0042');
  assert.equal(formatCost(0.05), '$0.05');
  assert.equal(formatCost(0.5), '$0.50');
  assert.equal(formatCost(12.345), '$12.35');
});

test('hitPercent prefers token counts, falls back to hitRate', () => {
  assert.equal(hitPercent(undefined), undefined);
  assert.equal(hitPercent({}), undefined);
  assert.equal(hitPercent(usage), 90);
  assert.equal(hitPercent({ promptHitTokens: 1, promptMissTokens: 2 }), 33);
  assert.equal(hitPercent({ requests: 3, hitRate: 0.456 }), 46);
  assert.equal(hitPercent({ requests: 3, hitRate: 75 }), 75, 'a value above 1 is a percentage');
  assert.equal(hitPercent({ requests: 0, hitRate: 0 }), undefined, 'no requests yet: no percentage');
});

test('running and idle: cost and cache hit in the text', () => {
  const v = formatStatus({ phase: 'running', hasKey: true, status: { state: 'idle', autoCompletion: true, model: 'deepseek-flash', usage } });
  assert.equal(v.text, '$(sparkle) DeepSeek $0.0012 · 90% cache');
  assert.equal(v.severity, 'normal');
  assert.match(v.tooltip, /^DeepSeek: ready/);
  assert.match(v.tooltip, /Automatic completions: on/);
  assert.match(v.tooltip, /Model: deepseek-flash/);
  assert.match(v.tooltip, /12 requests, \$0\.0012, 90% of prompt tokens from cache/);
  assert.match(v.tooltip, /900 cached \+ 100 uncached prompt, 300 completion/);
  assert.doesNotMatch(v.tooltip, /Today/);
  const t = formatStatus({ phase: 'running', hasKey: true, status: { state: 'idle', usage, today: { requests: 40, costUsd: 0.0123 } } });
  assert.match(t.tooltip, /Today: 40 requests, \$0\.01\n/);
});

test('no usage yet: plain name', () => {
  const v = formatStatus({ phase: 'running', hasKey: true, status: { state: 'idle', usage: { requests: 0 } } });
  assert.equal(v.text, '$(sparkle) DeepSeek');
});

test('each server state has its icon', () => {
  const icon = (status: ServerStatus, chatBusy = false) =>
    formatStatus({ phase: 'running', hasKey: true, status, chatBusy }).text.split(' ')[0];
  assert.equal(icon({ state: 'waiting' }), '$(loading~spin)');
  assert.equal(icon({ state: 'error', message: 'no balance' }), '$(warning)');
  assert.equal(icon({ state: 'paused' }), '$(debug-pause)');
  assert.equal(icon({ state: 'disabled' }), '$(circle-slash)');
  assert.equal(icon({ state: 'idle', autoCompletion: false }), '$(circle-slash)');
  assert.equal(icon({ state: 'idle' }, true), '$(loading~spin)', 'a streaming chat spins too');
});

test('error state: warning colour and the message in the tooltip', () => {
  const v = formatStatus({ phase: 'running', hasKey: true, status: { state: 'error', message: 'Insufficient balance (402)' } });
  assert.equal(v.severity, 'warning');
  assert.match(v.tooltip, /DeepSeek: error\nInsufficient balance \(402\)/);
});

test('no key: asks for one', () => {
  const v = formatStatus({ phase: 'running', hasKey: false, status: { state: 'error', message: 'no API key' } });
  assert.equal(v.text, '$(key) DeepSeek: set API key');
  assert.equal(v.severity, 'warning');
  assert.match(v.tooltip, /DeepSeek: Set API Key/);
  // A key the server found elsewhere (settings) and a healthy state: no nagging.
  assert.equal(formatStatus({ phase: 'running', hasKey: false, status: { state: 'idle' } }).text, '$(sparkle) DeepSeek');
});

test('client phases', () => {
  assert.equal(formatStatus({ phase: 'starting', hasKey: true }).text, '$(loading~spin) DeepSeek');
  const ni = formatStatus({ phase: 'notInstalled', hasKey: true, detail: 'deepseek-ls was not found on PATH' });
  assert.equal(ni.text, '$(error) DeepSeek');
  assert.equal(ni.severity, 'error');
  assert.match(ni.tooltip, /not installed\ndeepseek-ls was not found on PATH/);
  assert.equal(formatStatus({ phase: 'failed', hasKey: true }).severity, 'error');
  assert.match(formatStatus({ phase: 'stopped', hasKey: true }).tooltip, /stopped/);
});

test('autoCompletionOff', () => {
  assert.equal(autoCompletionOff(undefined), false);
  assert.equal(autoCompletionOff({ state: 'idle', autoCompletion: true }), false);
  assert.equal(autoCompletionOff({ state: 'idle', autoCompletion: false }), true);
  assert.equal(autoCompletionOff({ state: 'disabled' }), true);
});

test('excluded: lock icon, "file excluded: never sent", the message in the tooltip, while its file is active', () => {
  const message = '.env is excluded (pattern `*.env` from the default list): DeepSeek never sees this file.';
  const uri = 'file:///ws/.env';
  const status: ServerStatus = { state: 'excluded', message, excludedUri: uri, autoCompletion: true, usage };
  for (const activeUri of [uri, undefined]) {
    const v = formatStatus({ phase: 'running', hasKey: true, status, activeUri });
    assert.equal(v.text, '$(lock) DeepSeek $0.0012 · 90% cache', `active ${activeUri}`);
    assert.equal(v.severity, 'normal', 'a quiet state, not a warning');
    const lines = v.tooltip.split('\n');
    assert.equal(lines[0], 'DeepSeek: file excluded: never sent');
    assert.equal(lines[1], message);
  }
  // another file in the active editor: shown as ready, without the message
  const other = formatStatus({ phase: 'running', hasKey: true, status, activeUri: 'file:///ws/main.py' });
  assert.equal(other.text, '$(sparkle) DeepSeek $0.0012 · 90% cache');
  assert.match(other.tooltip, /^DeepSeek: ready\n/);
  assert.doesNotMatch(other.tooltip, /excluded/);
  assert.equal(other.severity, 'normal');
  // the status object itself is left alone
  assert.equal(status.state, 'excluded');
  assert.equal(status.message, message);
});

test('excluded without a key: the key prompt does not replace it', () => {
  const status: ServerStatus = { state: 'excluded', message: 'x is excluded', excludedUri: 'file:///x' };
  const v = formatStatus({ phase: 'running', hasKey: false, status, activeUri: 'file:///x' });
  assert.equal(v.text, '$(lock) DeepSeek');
});

test('one request is singular; a ledger problem is shown with its fix', () => {
  const one = { requests: 1, promptHitTokens: 0, promptMissTokens: 10, completionTokens: 2, costUsd: 0.00001 };
  const v = formatStatus({ phase: 'running', hasKey: true, status: { state: 'idle', usage: one, today: one } });
  assert.match(v.tooltip, /Session: 1 request, /);
  assert.match(v.tooltip, /Today: 1 request, /);
  assert.doesNotMatch(v.tooltip, /1 requests/);
  const note = "Today's figures are incomplete: /d/ledger.sqlite3 is damaged or not a usage ledger (file is not a database). Move it away, e.g. mv '/d/ledger.sqlite3' '/d/ledger.sqlite3.broken'";
  const w = formatStatus({ phase: 'running', hasKey: true, status: { state: 'idle', usage: one, today: one, todayNote: note } });
  assert.ok(w.tooltip.includes(note));
});
