/**
 * The server's stderr, line by line, into the log output channel at the right level
 * (pure: no `vscode` import).
 *
 * deepseek-ls logs `YYYY-MM-DD HH:MM:SS,mmm LEVEL logger: message`; the output
 * channel adds its own timestamp, so the server's is dropped. Lines without a
 * level (tracebacks) keep the level of the line before them.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const LINE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\s+(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s+(.*)$/;
const BARE = /^(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)[:\s]\s*(.*)$/;

const LEVELS: Record<string, LogLevel> = {
  DEBUG: 'debug', INFO: 'info', WARNING: 'warn', WARN: 'warn', ERROR: 'error', CRITICAL: 'error',
};

/** Level and text of one stderr line; `previous` is the level of the line before. */
export function parseServerLogLine(line: string, previous: LogLevel = 'info'): { level: LogLevel; text: string } {
  const m = LINE.exec(line) ?? BARE.exec(line);
  if (m) return { level: LEVELS[m[1]], text: m[2] };
  return { level: previous, text: line };
}

/** Splits a byte stream into lines (handles chunks that end mid-line). */
export class LineSplitter {
  private rest = '';

  /** Feed a chunk; returns the complete lines in it. */
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split(/\r?\n/);
    this.rest = lines.pop() ?? '';
    return lines.filter((l) => l.length > 0);
  }

  /** The unterminated last line, if any. */
  flush(): string[] {
    const rest = this.rest;
    this.rest = '';
    return rest ? [rest] : [];
  }
}
