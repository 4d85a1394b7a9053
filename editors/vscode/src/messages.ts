/**
 * The server's window/showMessage, shown so that nothing goes stale: a message
 * about the API key (none configured, or rejected) is a notification that
 * closes by itself once a new key is stored (the server restarts with it) or
 * the server restarts; every other message is shown as the language client
 * would. No `vscode` import here: the decision is unit-tested
 * (test/messages.test.ts); extension.ts does the showing.
 */

export type Presentation = 'keyNotice' | 'error' | 'warning' | 'info';

/** LSP MessageType: 1 Error, 2 Warning, 3 Info, 4 Log. */
export function presentation(type: number, message: string): Presentation {
  if (type <= 2 && /\bAPI key\b/.test(message) && /(No DeepSeek API key|was rejected)/.test(message)) return 'keyNotice';
  if (type === 1) return 'error';
  if (type === 2) return 'warning';
  return 'info';
}
