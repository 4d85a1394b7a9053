/**
 * The server's window/showMessage, shown so that nothing goes stale: a message
 * about the API key (none configured, rejected, or with characters no key has) is a notification that
 * closes by itself once a new key is stored (the server restarts with it) or
 * the server restarts; every other message is shown as the language client
 * would. No `vscode` import here: the decision is unit-tested
 * (test/messages.test.ts); extension.ts does the showing.
 */

export type Presentation = 'keyNotice' | 'error' | 'warning' | 'info';

/**
 * Every key problem the server words: no key, a rejected key, and a key with characters no key
 * has (`DEEPSEEK_API_KEY contains a space at character 8 of 14; …`, named as the setting, the
 * variable or the key stored with "DeepSeek: Set API Key"; also inside "DeepSeek settings: …").
 */
const KEY_PROBLEM = new RegExp([
  'No DeepSeek API key',
  'API key was rejected',
  'API key contains',
  '(?:API key|DEEPSEEK_API_KEY|deepseek\\.apiKey|Set API Key")\\S* contains ',
].join('|'));

/** LSP MessageType: 1 Error, 2 Warning, 3 Info, 4 Log. */
export function presentation(type: number, message: string): Presentation {
  if (type <= 2 && KEY_PROBLEM.test(message)) return 'keyNotice';
  if (type === 1) return 'error';
  if (type === 2) return 'warning';
  return 'info';
}

/**
 * Why `value` cannot be an API key (shown under the Set API Key input box), or undefined when it
 * can: printable ASCII without spaces, as the server checks it. Never quotes the key.
 */
export function keyInputProblem(value: string): string | undefined {
  const key = value.trim();
  if (!key) return 'Enter the key, or press Escape';
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code > 32 && code < 127) continue;
    const what = code === 32 ? 'a space'
      : code === 9 ? 'a tab'
      : code === 10 || code === 13 ? 'a line break'
      : code < 32 || code === 127 ? `a control character (U+${code.toString(16).toUpperCase().padStart(4, '0')})`
      : `a non-ASCII character (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
    return `The key contains ${what} at character ${i + 1} of ${key.length}: an API key is ASCII letters, `
      + 'digits and dashes only. Paste the key alone, without any note after it.';
  }
  return undefined;
}
