/**
 * The API key in VS Code's secret storage (never in settings.json): read when
 * the server starts (passed to it as DEEPSEEK_API_KEY), set and cleared by the
 * "DeepSeek: Set / Clear API Key" commands. A change in any window restarts
 * the server (see extension.ts).
 */
import * as vscode from 'vscode';
import { keyInputProblem } from './messages';

/** Name of the API key in VS Code's secret storage. */
export const SECRET_KEY = 'deepseek.apiKey';

export class ApiKeyStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  /** The stored key (trimmed), or undefined. */
  async get(): Promise<string | undefined> {
    return (await this.secrets.get(SECRET_KEY))?.trim() || undefined;
  }

  /** Calls `listener` when the stored key changes (in this window or another). */
  onDidChange(listener: () => void): vscode.Disposable {
    return this.secrets.onDidChange((e) => {
      if (e.key === SECRET_KEY) listener();
    });
  }

  /** Ask for a key (password input, checked as the server checks it); undefined when none was given. */
  async ask(): Promise<string | undefined> {
    const key = await vscode.window.showInputBox({
      title: 'DeepSeek API Key',
      prompt: 'Stored in VS Code\'s secret storage (never in settings.json) and passed to the server as DEEPSEEK_API_KEY.',
      placeHolder: 'sk-…',
      password: true,
      ignoreFocusOut: true,
      validateInput: keyInputProblem,
    });
    if (!key?.trim() || keyInputProblem(key)) return undefined;
    return key.trim();
  }

  async store(key: string): Promise<void> {
    await this.secrets.store(SECRET_KEY, key);
  }

  async clear(): Promise<void> {
    await this.secrets.delete(SECRET_KEY);
  }
}
