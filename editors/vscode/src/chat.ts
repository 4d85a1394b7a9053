/**
 * The chat conversation shown in the DeepSeek panel (pure: no `vscode` import).
 *
 * Explain and chat share one server session, so a chat after an explanation
 * is a follow-up on it; "New Chat Session" starts over. The server commands
 * are run through an injected `exec` (the language client's
 * `workspace/executeCommand`).
 */
import { ChatResult, ChatStreamEvent, StreamAssembler, StreamRouter } from './stream';

export type TurnKind = 'chat' | 'explain';

export interface Turn {
  id: number;
  kind: TurnKind;
  /** Markdown shown as the user's part of the turn. */
  prompt: string;
  stream: string;
  answer: StreamAssembler;
}

export type Exec = (command: string, arg: Record<string, unknown>) => Promise<unknown>;

export interface ChatModelOptions {
  exec: Exec;
  router?: StreamRouter;
  /** Called whenever a turn changes (or with undefined when the list changed). */
  onChange?: (turn: Turn | undefined) => void;
  /** Unique stream ids; the default is `vscode-<n>-<random>`. */
  newStreamId?: () => string;
}

let streamCounter = 0;
function defaultStreamId(): string {
  streamCounter += 1;
  return `vscode-${streamCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Error text of a failed request (ResponseError, Error or anything). */
export function errorText(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

export class ChatModel {
  readonly turns: Turn[] = [];
  readonly router: StreamRouter;
  session?: string;
  private nextId = 1;
  private readonly adopted = new Set<string>();
  private readonly exec: Exec;
  private readonly onChange: (turn: Turn | undefined) => void;
  private readonly newStreamId: () => string;

  constructor(options: ChatModelOptions) {
    this.exec = options.exec;
    this.router = options.router ?? new StreamRouter();
    this.onChange = options.onChange ?? (() => undefined);
    this.newStreamId = options.newStreamId ?? defaultStreamId;
  }

  /** A turn is still waiting for its answer. */
  get busy(): boolean {
    return this.turns.some((t) => !t.answer.finished);
  }

  /**
   * Feed one `deepseek/chatStream` notification. A stream the extension did not
   * start (a command run by a code action, another plugin, …) gets a turn of its
   * own when it begins, so its answer is not lost.
   */
  onStreamEvent(ev: unknown): void {
    const e = ev as ChatStreamEvent | null;
    if (e && typeof e === 'object' && typeof e.stream === 'string' && e.event === 'begin'
        && !this.turns.some((t) => t.stream === e.stream)) {
      const turn: Turn = { id: this.nextId++, kind: 'chat', prompt: '*(a request started outside this panel)*', stream: e.stream, answer: new StreamAssembler() };
      this.turns.push(turn);
      this.router.add(e.stream, turn.answer);
      this.adopted.add(e.stream);
      this.onChange(undefined);
    }
    const hit = this.router.dispatch(ev);
    if (!hit) return;
    const adopted = this.adopted.has(hit.stream);
    if (adopted && hit.assembler.finished) {
      this.router.remove(hit.stream);
      this.adopted.delete(hit.stream);
    }
    const turn = this.turns.find((t) => t.stream === hit.stream);
    // Only our own questions move the panel's session along.
    if (!adopted && hit.assembler.session) this.session = hit.assembler.session;
    this.onChange(turn);
  }

  /**
   * Run `deepseek.chat` or `deepseek.explainSelection` with `arg` in the current
   * session and stream the answer into a new turn. Resolves when the answer is complete.
   */
  async ask(kind: TurnKind, arg: Record<string, unknown>, prompt: string): Promise<Turn> {
    const stream = this.newStreamId();
    const turn: Turn = { id: this.nextId++, kind, prompt, stream, answer: new StreamAssembler() };
    this.turns.push(turn);
    this.router.add(stream, turn.answer);
    this.onChange(undefined);
    const command = kind === 'chat' ? 'deepseek.chat' : 'deepseek.explainSelection';
    const full: Record<string, unknown> = { ...arg, stream };
    if (this.session) full.session = this.session;
    try {
      const result = (await this.exec(command, full)) as ChatResult | null;
      turn.answer.finish(result);
      if (result && typeof result === 'object' && result.session) this.session = result.session;
    } catch (err) {
      turn.answer.fail(errorText(err));
    } finally {
      this.router.remove(stream);
    }
    this.onChange(turn);
    return turn;
  }

  /** Stop every answer in flight (`deepseek.cancel` without a session: all of them). */
  async cancel(): Promise<number> {
    const running = this.turns.filter((t) => !t.answer.finished);
    for (const t of running) t.answer.requestCancel();
    if (running.length) this.onChange(undefined);
    const result = (await this.exec('deepseek.cancel', {})) as { cancelled?: number } | null;
    return result?.cancelled ?? 0;
  }

  /** Forget the conversation: the next question starts a new session. */
  reset(): void {
    this.turns.length = 0;
    this.session = undefined;
    this.onChange(undefined);
  }
}

/** A code fence long enough for `code` (which may itself contain fences). */
export function fence(code: string, language = ''): string {
  const longest = Math.max(2, ...Array.from(code.matchAll(/`+/g), (m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}${language}\n${code.replace(/\n$/, '')}\n${ticks}`;
}

/** The user's part of an explain turn: file, lines and the selected code. */
export function explainPrompt(fileName: string, startLine: number, endLine: number, languageId: string, code: string): string {
  const lines = startLine === endLine ? `line ${startLine + 1}` : `lines ${startLine + 1}–${endLine + 1}`;
  return `Explain \`${fileName}\` ${lines}:\n\n${fence(code, languageId)}`;
}
