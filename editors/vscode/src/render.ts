/**
 * HTML of the chat panel's turns (pure: no `vscode` import).
 *
 * Markdown is rendered with markdown-it with raw HTML disabled, so answers can
 * never inject markup or scripts into the webview.
 */
import MarkdownIt from 'markdown-it';
import type { Turn } from './chat';
import { formatCost, Usage } from './status';
import type { AnswerUsage } from './stream';

const md = new MarkdownIt({ html: false, linkify: true, breaks: false });

/** Markdown to safe HTML. */
export function renderMarkdown(text: string): string {
  return md.render(text);
}

/** Escape text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The usage of one answer. The command result's `usage` is the API's
 * (`promptTokens`, `promptCacheHitTokens`, …); the status notification's
 * names (`promptHitTokens`, `costUsd`, …) are accepted too.
 */
function usageLine(turn: Turn): string {
  const u = turn.answer.usage as (Usage & AnswerUsage) | undefined;
  if (!u) return '';
  const parts: string[] = [];
  const cached = u.promptCacheHitTokens ?? u.promptHitTokens ?? 0;
  const prompt = u.promptTokens ?? (u.promptHitTokens ?? 0) + (u.promptMissTokens ?? 0);
  if (prompt) parts.push(`${prompt} prompt tokens (${cached} cached)`);
  if (u.reasoningTokens) parts.push(`${u.reasoningTokens} reasoning tokens`);
  if (u.completionTokens !== undefined) parts.push(`${u.completionTokens} answer tokens`);
  if (u.costUsd !== undefined) parts.push(formatCost(u.costUsd));
  return parts.join(' · ');
}

/** One turn (question and answer) as an HTML fragment. */
export function renderTurn(turn: Turn): string {
  const a = turn.answer;
  const out: string[] = [];
  out.push(`<div class="turn" data-turn="${turn.id}" data-state="${a.state}">`);
  out.push(`<div class="prompt"><div class="who">You</div>${renderMarkdown(turn.prompt)}</div>`);
  out.push('<div class="answer"><div class="who">DeepSeek</div>');
  if (a.reasoning) {
    const open = a.content ? '' : ' open';
    out.push(`<details class="reasoning"${open}><summary>Reasoning</summary>${renderMarkdown(a.reasoning)}</details>`);
  }
  if (a.content) out.push(`<div class="content">${renderMarkdown(a.content)}</div>`);
  else if (!a.finished) out.push('<div class="content waiting">Waiting for DeepSeek…</div>');
  if (a.state === 'error') out.push(`<div class="error">Error: ${escapeHtml(a.error ?? 'unknown error')}</div>`);
  if (a.state === 'cancelled') out.push('<div class="meta">Cancelled.</div>');
  else if (a.state === 'done') {
    const usage = usageLine(turn);
    if (usage) out.push(`<div class="meta">${escapeHtml(usage)}</div>`);
  }
  out.push('</div></div>');
  return out.join('');
}
