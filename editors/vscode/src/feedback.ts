/**
 * "Shown" and "partially accepted" reports for ghost text, with what VS Code's
 * stable API allows (checked against @types/vscode 1.140: no
 * `handleDidShowCompletionItem` / `handleDidPartiallyAcceptCompletionItem`
 * outside the proposed API).
 *
 * - shown: an item the server sent reaches VS Code through our middleware
 *   and the request was not cancelled, so VS Code displays it (unless the user
 *   typed on in the meantime: then the server never hears of it, as nothing
 *   was shown). Each suggestion id is reported once: `deepseek/didShowCompletion`.
 * - partial accept (Ctrl+Right = accept word, accept line): VS Code inserts a
 *   piece of the suggestion in one edit at the cursor. A single insertion of 2
 *   or more characters that continues the shown suggestion, short of its end,
 *   is such an accept; typing through it arrives one character per edit, and a
 *   full accept runs the item's command (`deepseek.acceptCompletion`) instead.
 *   Reported as `deepseek/didPartiallyAcceptCompletion {id, acceptedLength}`
 *   with the UTF-16 length of everything accepted so far (JavaScript string
 *   lengths are UTF-16 code units, as LSP positions are).
 *
 * No `vscode` import: unit-tested with plain objects (test/feedback.test.ts).
 */

export interface Pos { line: number; character: number }

/** One content change as VS Code reports it (TextDocumentContentChangeEvent). */
export interface Change { range: { start: Pos; end: Pos }; text: string }

/** A suggestion on screen: where its not-yet-accepted rest starts. */
interface Showing { id: string; uri: string; text: string; done: number; at: Pos }

export type Send = (method: string, params: Record<string, unknown>) => void;

/** The suggestion id the server put into an item's `deepseek.acceptCompletion` command. */
export function suggestionId(command: { command?: string; arguments?: unknown[] } | undefined): string | undefined {
  if (!command || command.command !== 'deepseek.acceptCompletion') return undefined;
  const arg = command.arguments?.[0];
  const id = arg && typeof arg === 'object' ? (arg as { id?: unknown }).id : undefined;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
}

function after(at: Pos, text: string): Pos {
  const lines = text.split('\n');
  if (lines.length === 1) return { line: at.line, character: at.character + text.length };
  return { line: at.line + lines.length - 1, character: lines[lines.length - 1].length };
}

export class CompletionFeedback {
  private showing?: Showing;
  private readonly reported = new Set<string>();

  constructor(private readonly send: Send) {}

  /** Items handed to VS Code for display at `at` in `uri` (the first is the one shown). */
  shown(uri: string, at: Pos, items: { id?: string; text: string; start?: Pos }[]): void {
    const first = items.find((i) => i.id !== undefined && i.text.length > 0);
    if (!first || first.id === undefined) {
      this.showing = undefined;
      return;
    }
    // the item replaces from its range start (VS Code shows the part after the cursor)
    const start = first.start ?? at;
    const typed = start.line === at.line && at.character > start.character ? at.character - start.character : 0;
    this.showing = { id: first.id, uri, text: first.text, done: typed, at };
    if (this.reported.has(first.id)) return;
    this.reported.add(first.id);
    if (this.reported.size > 500) this.reported.delete(this.reported.values().next().value as string);
    this.send('deepseek/didShowCompletion', { id: first.id });
  }

  /** A document changed: a partial accept is reported; anything else ends the suggestion. */
  changed(uri: string, changes: readonly Change[]): void {
    const s = this.showing;
    if (!s || s.uri !== uri) return;
    if (changes.length !== 1) {
      this.showing = undefined;
      return;
    }
    const c = changes[0];
    const atCursor = c.range.start.line === s.at.line && c.range.start.character === s.at.character
      && c.range.end.line === s.at.line && c.range.end.character === s.at.character;
    const rest = s.text.slice(s.done);
    if (!atCursor || c.text.length === 0 || !rest.startsWith(c.text)) {
      this.showing = undefined;
      return;
    }
    s.done += c.text.length;
    s.at = after(s.at, c.text);
    if (s.done >= s.text.length) {
      this.showing = undefined; // the whole suggestion: the item's command reports it
      return;
    }
    if (c.text.length >= 2) {
      this.send('deepseek/didPartiallyAcceptCompletion', { id: s.id, acceptedLength: s.done });
    }
  }

  /** The id of the suggestion on screen (for tests and the log). */
  get current(): string | undefined {
    return this.showing?.id;
  }
}
