import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { StreamAssembler } from '../src/stream';
import { escapeHtml, renderMarkdown, renderTurn } from '../src/render';
import type { Turn } from '../src/chat';

function turn(fill: (a: StreamAssembler) => void): Turn {
  const answer = new StreamAssembler();
  fill(answer);
  return { id: 7, kind: 'chat', prompt: 'What is `x`?', stream: 's', answer };
}

test('markdown renders code blocks and never raw HTML', () => {
  assert.match(renderMarkdown('```python\nprint(1)\n```'), /<pre><code class="language-python">print\(1\)\n<\/code><\/pre>/);
  const evil = renderMarkdown('<script>alert(1)</script><img src=x onerror=alert(1)>');
  assert.doesNotMatch(evil, /<script|<img/);
  assert.match(evil, /&lt;script&gt;/);
  assert.equal(escapeHtml('<a href="x">&</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
});

test('a pending turn says it is waiting', () => {
  const html = renderTurn(turn(() => undefined));
  assert.match(html, /data-turn="7" data-state="pending"/);
  assert.match(html, /<code>x<\/code>/);
  assert.match(html, /Waiting for DeepSeek/);
});

test('a finished turn shows answer, open reasoning only while no content, and usage', () => {
  const thinking = renderTurn(turn((a) => a.apply({ stream: 's', event: 'reasoning', text: 'hmm' })));
  assert.match(thinking, /<details class="reasoning" open>/);
  const html = renderTurn(turn((a) => {
    a.apply({ stream: 's', event: 'reasoning', text: 'hmm' });
    a.finish({ session: 'x', content: '**Yes**', usage: { promptHitTokens: 10, promptMissTokens: 5, completionTokens: 3, costUsd: 0.0001 } });
  }));
  assert.match(html, /<details class="reasoning">/);
  assert.match(html, /<strong>Yes<\/strong>/);
  assert.match(html, /15 prompt tokens \(10 cached\) · 3 answer tokens · \$0\.0001/);
  assert.doesNotMatch(html, /Waiting/);
});

test('usage of a chat result in the API\'s names', () => {
  const html = renderTurn(turn((a) => a.finish({ session: 'x', content: 'ok',
    usage: { promptTokens: 196, completionTokens: 21, promptCacheHitTokens: 56, promptCacheMissTokens: 140, reasoningTokens: 0 } })));
  assert.match(html, /196 prompt tokens \(56 cached\) · 21 answer tokens</);
});

test('errors are escaped; cancelled turns say so', () => {
  const err = renderTurn(turn((a) => a.fail('<b>boom</b>')));
  assert.match(err, /Error: &lt;b&gt;boom&lt;\/b&gt;/);
  const cancelled = renderTurn(turn((a) => { a.requestCancel(); a.fail('cancelled'); }));
  assert.match(cancelled, /Cancelled\./);
});
