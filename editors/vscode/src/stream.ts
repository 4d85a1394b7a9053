/**
 * Assembly of chat answers from `deepseek/chatStream` notifications (pure: no `vscode` import).
 *
 * The extension picks a `stream` id per command; the server echoes it in every
 * notification, so deltas are routed before the command's response arrives.
 * The response (`{session, content, reasoning?, usage}`) is authoritative and
 * replaces whatever the deltas built.
 */
import type { Usage } from './status';

export type StreamEventKind = 'begin' | 'reasoning' | 'content' | 'done' | 'error';

/** Params of the `deepseek/chatStream` notification. */
export interface ChatStreamEvent {
  stream: string;
  session?: string;
  event: StreamEventKind;
  text?: string;
  result?: ChatResult;
  message?: string;
}

/** The `usage` of a chat result, as the server sends it (the API's token counts). */
export interface AnswerUsage {
  promptTokens?: number;
  completionTokens?: number;
  promptCacheHitTokens?: number;
  promptCacheMissTokens?: number;
  reasoningTokens?: number;
}

/** Result of `deepseek.chat` and `deepseek.explainSelection`. */
export interface ChatResult {
  session: string;
  content: string;
  reasoning?: string;
  usage?: AnswerUsage | Usage;
}

export type AnswerState = 'pending' | 'streaming' | 'done' | 'error' | 'cancelled';

/** One answer being assembled. */
export class StreamAssembler {
  content = '';
  reasoning = '';
  state: AnswerState = 'pending';
  session?: string;
  usage?: AnswerUsage | Usage;
  error?: string;
  private cancelRequested = false;

  get finished(): boolean {
    return this.state === 'done' || this.state === 'error' || this.state === 'cancelled';
  }

  /** Apply one notification; returns whether anything visible changed. */
  apply(ev: ChatStreamEvent): boolean {
    if (this.finished) return false;
    if (ev.session) this.session = ev.session;
    switch (ev.event) {
      case 'begin':
        this.state = 'streaming';
        return true;
      case 'reasoning':
        this.state = 'streaming';
        this.reasoning += ev.text ?? '';
        return !!ev.text;
      case 'content':
        this.state = 'streaming';
        this.content += ev.text ?? '';
        return !!ev.text;
      case 'done':
        if (ev.result) this.finish(ev.result);
        else this.state = 'done';
        return true;
      case 'error':
        this.fail(ev.message ?? 'error');
        return true;
      default:
        return false;
    }
  }

  /** The command returned: its result is the final answer. */
  finish(result: ChatResult | null | undefined): void {
    if (this.state === 'error' || this.state === 'cancelled') return;
    if (result && typeof result === 'object') {
      if (typeof result.content === 'string' && (result.content || !this.content)) this.content = result.content;
      if (typeof result.reasoning === 'string' && result.reasoning) this.reasoning = result.reasoning;
      if (result.session) this.session = result.session;
      if (result.usage) this.usage = result.usage;
    }
    this.state = this.cancelRequested ? 'cancelled' : 'done';
  }

  /** The command failed (or the stream said so); partial text is kept. */
  fail(message: string): void {
    if (this.finished) return;
    this.state = this.cancelRequested ? 'cancelled' : 'error';
    this.error = message;
  }

  /** The user asked to stop; the final event decides, but it will show as cancelled. */
  requestCancel(): void {
    this.cancelRequested = true;
  }
}

/** Routes notifications to the assembler of their stream id. */
export class StreamRouter {
  private readonly streams = new Map<string, StreamAssembler>();

  add(stream: string, assembler: StreamAssembler): void {
    this.streams.set(stream, assembler);
  }

  remove(stream: string): void {
    this.streams.delete(stream);
  }

  get size(): number {
    return this.streams.size;
  }

  /** Dispatch one notification; returns the assembler it changed, if any. */
  dispatch(ev: unknown): { stream: string; assembler: StreamAssembler } | undefined {
    if (!ev || typeof ev !== 'object') return undefined;
    const e = ev as ChatStreamEvent;
    if (typeof e.stream !== 'string') return undefined;
    const assembler = this.streams.get(e.stream);
    if (!assembler) return undefined;
    return assembler.apply(e) ? { stream: e.stream, assembler } : undefined;
  }
}
