/**
 * Status bar text for the `deepseek/status` notification (pure: no `vscode` import).
 *
 * The server sends its state, whether automatic completions are on, and the
 * session's usage; the extension adds its own view of the client (starting,
 * not installed, no API key).
 */

/** The `usage` object of `deepseek/status` (and the result of `deepseek.usage`). */
export interface Usage {
  requests?: number;
  promptHitTokens?: number;
  promptMissTokens?: number;
  completionTokens?: number;
  costUsd?: number;
  hitRate?: number;
}

export type ServerState = 'idle' | 'waiting' | 'error' | 'paused' | 'disabled' | 'excluded';

/** Params of the `deepseek/status` notification. */
export interface ServerStatus {
  state: ServerState;
  message?: string;
  autoCompletion?: boolean;
  model?: string;
  usage?: Usage;
  /** Usage since midnight (sent by the server in addition to the session's). */
  today?: Usage;
  /** Set when the usage ledger cannot be read or written: what failed and how to fix it. */
  todayNote?: string;
  /** The endpoint ghost text comes from: DeepSeek (primary) or a fallback while DeepSeek fails. */
  endpoint?: { name: string; primary: boolean };
  /** State `excluded`: the document asked about last, which is never sent (`message` says why). */
  excludedUri?: string;
}

/** "1 request", "2 requests". */
export function requests(n: number): string {
  return `${n} request${n === 1 ? '' : 's'}`;
}

/** What the extension knows about the server process. */
export type ClientPhase = 'starting' | 'running' | 'stopped' | 'notInstalled' | 'failed';

export interface StatusInput {
  phase: ClientPhase;
  status?: ServerStatus;
  /** An API key is in the secret storage or in the environment. */
  hasKey: boolean;
  /** A chat or explain answer is streaming. */
  chatBusy?: boolean;
  /** Why the client is not running (phase notInstalled/failed). */
  detail?: string;
  /** URI of the active editor's document (state `excluded` shows only while it is `excludedUri`). */
  activeUri?: string;
}

export type Severity = 'normal' | 'warning' | 'error';

export interface StatusView {
  text: string;
  tooltip: string;
  severity: Severity;
}

/** Format a cost in US dollars: `$0.00`, `$0.000034` (two significant digits below a cent), `$1.25`. */
export function formatCost(usd: number | undefined): string {
  if (usd === undefined || !Number.isFinite(usd) || usd <= 0) return '$0.00';
  if (usd < 1e-6) return '<$0.000001';
  if (usd < 0.01) return `$${usd.toFixed(1 - Math.floor(Math.log10(usd)))}`;
  return `$${usd.toFixed(2)}`;
}

/**
 * Cache-hit percentage of the prompt tokens, 0..100, or undefined before any prompt.
 * Computed from the token counts when present; otherwise from `hitRate`
 * (a fraction 0..1; values above 1 are taken as percentages).
 */
export function hitPercent(usage: Usage | undefined): number | undefined {
  if (!usage) return undefined;
  const hit = usage.promptHitTokens ?? 0;
  const miss = usage.promptMissTokens ?? 0;
  if (hit + miss > 0) return Math.round((100 * hit) / (hit + miss));
  if (typeof usage.hitRate === 'number' && Number.isFinite(usage.hitRate) && (usage.requests ?? 0) > 0) {
    return Math.round(usage.hitRate <= 1 ? usage.hitRate * 100 : usage.hitRate);
  }
  return undefined;
}

/** Whether automatic completions are off according to the server. */
export function autoCompletionOff(status: ServerStatus | undefined): boolean {
  return !!status && (status.state === 'disabled' || status.autoCompletion === false);
}

/**
 * The server status as shown: state `excluded` is about one file, so with
 * another document in the active editor it shows as `idle`, without the message.
 * An unknown active editor (undefined) keeps it.
 */
export function shownStatus(input: StatusInput): ServerStatus | undefined {
  const s = input.status;
  if (s?.state !== 'excluded' || input.activeUri === undefined || !s.excludedUri || input.activeUri === s.excludedUri) return s;
  const { message: _message, excludedUri: _uri, ...rest } = s;
  return { ...rest, state: 'idle' };
}

function stateIcon(input: StatusInput): string {
  if (input.phase === 'starting') return '$(loading~spin)';
  if (input.phase !== 'running') return '$(error)';
  const s = input.status;
  if (input.chatBusy || s?.state === 'waiting') return '$(loading~spin)';
  if (!s) return '$(sparkle)';
  switch (s.state) {
    case 'error': return '$(warning)';
    case 'paused': return '$(debug-pause)';
    case 'disabled': return '$(circle-slash)';
    case 'excluded': return '$(lock)';
    default: return s.autoCompletion === false ? '$(circle-slash)' : '$(sparkle)';
  }
}

function stateWords(input: StatusInput): string {
  switch (input.phase) {
    case 'starting': return 'starting the server';
    case 'notInstalled': return 'the server is not installed';
    case 'failed': return 'the server failed';
    case 'stopped': return 'the server is stopped';
    default: break;
  }
  const s = input.status;
  if (!s) return 'running';
  switch (s.state) {
    case 'idle': return 'ready';
    case 'waiting': return 'waiting for DeepSeek';
    case 'error': return 'error';
    case 'paused': return 'paused';
    case 'disabled': return 'automatic completions off';
    case 'excluded': return 'file excluded: never sent';
    default: return String(s.state);
  }
}

/** Text, tooltip and severity of the status bar item. */
export function formatStatus(input: StatusInput): StatusView {
  const s = shownStatus(input);
  input = { ...input, status: s };
  const usage = s?.usage;
  let text = `${stateIcon(input)} DeepSeek`;
  const needsKey = input.phase === 'running' && !input.hasKey && (!s || s.state === 'error');
  if (needsKey) text = '$(key) DeepSeek: set API key';
  else if (input.phase === 'running' && s?.endpoint && !s.endpoint.primary) {
    text += ` via ${s.endpoint.name}`; // failover: a fallback endpoint answers (the tooltip has the cost)
  } else if (input.phase === 'running' && usage && (usage.requests ?? 0) > 0) {
    text += ` ${formatCost(usage.costUsd)}`;
    const hit = hitPercent(usage);
    if (hit !== undefined) text += ` · ${hit}% cache`;
  }

  let severity: Severity = 'normal';
  if (input.phase === 'notInstalled' || input.phase === 'failed') severity = 'error';
  else if (needsKey || (input.phase === 'running' && s?.state === 'error')) severity = 'warning';

  const lines: string[] = [`DeepSeek: ${stateWords(input)}`];
  if (s?.message) lines.push(s.message);
  if (input.detail && input.phase !== 'running') lines.push(input.detail);
  if (needsKey) lines.push('No API key: run "DeepSeek: Set API Key".');
  if (s) {
    lines.push(`Automatic completions: ${autoCompletionOff(s) ? 'off' : 'on'}`);
    if (s.model) lines.push(`Model: ${s.model}`);
    if (s.endpoint && !s.endpoint.primary) {
      lines.push(`Answering: fallback endpoint ${s.endpoint.name} (DeepSeek is failing; it is probed and taken back when it recovers)`);
    }
  }
  if (usage) {
    const hit = hitPercent(usage);
    lines.push(`Session: ${requests(usage.requests ?? 0)}, ${formatCost(usage.costUsd)}` +
      (hit !== undefined ? `, ${hit}% of prompt tokens from cache` : ''));
    lines.push(`Tokens: ${usage.promptHitTokens ?? 0} cached + ${usage.promptMissTokens ?? 0} uncached prompt, ` +
      `${usage.completionTokens ?? 0} completion`);
  }
  if (s?.today && (s.today.requests ?? 0) > 0) {
    lines.push(`Today: ${requests(s.today.requests ?? 0)}, ${formatCost(s.today.costUsd)}`);
  }
  if (s?.todayNote) lines.push(s.todayNote);
  lines.push('Click for the DeepSeek menu.');
  return { text, tooltip: lines.join('\n'), severity };
}
