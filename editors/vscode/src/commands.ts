/**
 * The extension's own commands (`deepseek.ui.*`, contributed in package.json):
 * explain / chat into the chat panel, cancel, toggle automatic completions,
 * the API key, the status menu, the log and a restart. Server work goes
 * through `workspace/executeCommand` (client.ts).
 */
import * as vscode from 'vscode';
import type { ApiKeyStore } from './apiKey';
import { ChatModel, errorText, explainPrompt } from './chat';
import type { ChatPanel } from './chatPanel';
import type { ServerClient } from './client';
import type { ServerNotices } from './notices';
import { autoCompletionOff } from './status';
import type { StatusBar } from './statusBar';

export interface CommandsDeps {
  server: ServerClient;
  chat: ChatModel;
  keys: ApiKeyStore;
  notices: ServerNotices;
  log: vscode.LogOutputChannel;
  /** Set once the panel and the status bar exist (they call back into the commands). */
  panel?: ChatPanel;
  statusBar?: StatusBar;
}

export class Commands {
  constructor(private readonly deps: CommandsDeps) {}

  private get server(): ServerClient {
    return this.deps.server;
  }

  private get chat(): ChatModel {
    return this.deps.chat;
  }

  private get panel(): ChatPanel {
    if (!this.deps.panel) throw new Error('the chat panel is not set up');
    return this.deps.panel;
  }

  /** Register every `deepseek.ui.*` command. */
  register(): vscode.Disposable[] {
    const disposables: vscode.Disposable[] = [];
    const cmd = (id: string, fn: () => unknown) => disposables.push(vscode.commands.registerCommand(id, fn));
    cmd('deepseek.ui.setApiKey', () => this.setApiKey());
    cmd('deepseek.ui.clearApiKey', () => this.clearApiKey());
    cmd('deepseek.ui.explainSelection', () => this.explainSelection());
    cmd('deepseek.ui.chat', () => this.chatCommand());
    cmd('deepseek.ui.newChat', () => this.chat.reset());
    cmd('deepseek.ui.cancel', () => this.cancel());
    cmd('deepseek.ui.toggleAutoCompletion', () => this.toggleAutoCompletion());
    cmd('deepseek.ui.statusMenu', () => this.statusMenu());
    cmd('deepseek.ui.showLog', () => this.deps.log.show());
    cmd('deepseek.ui.restartServer', () => this.server.restart('requested'));
    return disposables;
  }

  async explainSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('DeepSeek: open a file and select code to explain.');
      return;
    }
    const client = this.server.requireClient();
    if (!client) return;
    let range: vscode.Range = editor.selection;
    if (range.isEmpty) {
      const line = editor.document.lineAt(editor.selection.active.line);
      if (line.isEmptyOrWhitespace) {
        void vscode.window.showInformationMessage('DeepSeek: select the code to explain.');
        return;
      }
      range = line.range;
    }
    const doc = editor.document;
    const name = vscode.workspace.asRelativePath(doc.uri, false);
    const prompt = explainPrompt(name, range.start.line, range.end.line, doc.languageId, doc.getText(range));
    this.panel.show();
    const turn = await this.chat.ask('explain', {
      uri: client.code2ProtocolConverter.asUri(doc.uri),
      range: client.code2ProtocolConverter.asRange(range),
    }, prompt);
    this.reportFailure(turn.answer.state, turn.answer.error);
  }

  async chatCommand(): Promise<void> {
    if (!this.server.requireClient()) return;
    const message = await vscode.window.showInputBox({
      title: 'DeepSeek Chat',
      prompt: this.chat.session ? 'Follow-up question (same session; "DeepSeek: New Chat Session" starts over)' : 'Ask DeepSeek',
      placeHolder: 'Ask about your code…',
      ignoreFocusOut: true,
    });
    if (message?.trim()) await this.askChat(message.trim());
  }

  /** Ask `message` (with the selection of the active editor, if any) in the chat panel. */
  async askChat(message: string): Promise<void> {
    const client = this.server.requireClient();
    if (!client) return;
    const arg: Record<string, unknown> = { message };
    let prompt = message;
    const editor = vscode.window.activeTextEditor;
    if (editor && !editor.selection.isEmpty) {
      arg.uri = client.code2ProtocolConverter.asUri(editor.document.uri);
      arg.range = client.code2ProtocolConverter.asRange(editor.selection);
      prompt += `\n\n*(with the selection in \`${vscode.workspace.asRelativePath(editor.document.uri, false)}\`)*`;
    }
    this.panel.show();
    const turn = await this.chat.ask('chat', arg, prompt);
    this.reportFailure(turn.answer.state, turn.answer.error);
  }

  private reportFailure(state: string, error?: string): void {
    // The panel shows the error in place; a toast only when the panel is hidden.
    if (state === 'error' && !this.panel.visible) void vscode.window.showErrorMessage(`DeepSeek: ${error ?? 'the request failed'}`, 'Show Log')
      .then((pick) => this.server.onFixPick(pick));
  }

  async cancel(): Promise<void> {
    if (!this.server.requireClient()) return;
    try {
      const n = await this.chat.cancel();
      vscode.window.setStatusBarMessage(`DeepSeek: cancelled ${n} request${n === 1 ? '' : 's'}`, 3000);
    } catch (err) {
      void vscode.window.showErrorMessage(`DeepSeek: cancel failed: ${errorText(err)}`);
    }
  }

  async toggleAutoCompletion(enabled?: boolean): Promise<void> {
    if (!this.server.requireClient()) return;
    try {
      const result = (await this.server.exec('deepseek.toggleAutoCompletion', enabled === undefined ? {} : { enabled })) as { enabled?: boolean } | null;
      const on = !!result?.enabled;
      const status = this.server.status;
      this.server.setStatus(status ? { ...status, autoCompletion: on } : status);
      vscode.window.setStatusBarMessage(`DeepSeek: automatic completions ${on ? 'on' : 'off'}`, 3000);
    } catch (err) {
      void vscode.window.showErrorMessage(`DeepSeek: ${errorText(err)}`);
    }
  }

  async setApiKey(): Promise<void> {
    const key = await this.deps.keys.ask();
    if (!key) return;
    // The secret storage's change event restarts the server (in every window).
    this.deps.notices.dismissKeyNotice();
    await this.deps.keys.store(key);
    vscode.window.setStatusBarMessage('DeepSeek: API key saved; restarting the server', 4000);
  }

  async clearApiKey(): Promise<void> {
    await this.deps.keys.clear();
    vscode.window.setStatusBarMessage('DeepSeek: API key removed', 4000);
  }

  async statusMenu(): Promise<void> {
    type Item = vscode.QuickPickItem & { run?: () => unknown };
    const server = this.server;
    const off = autoCompletionOff(server.status);
    const running = server.phase === 'running';
    const items: Item[] = [];
    if (running) {
      items.push({
        label: off ? '$(check) Turn automatic completions on' : '$(circle-slash) Turn automatic completions off',
        run: () => this.toggleAutoCompletion(off),
      });
      items.push({ label: '$(comment-discussion) Explain selection', run: () => this.explainSelection() });
      items.push({ label: '$(comment) Chat…', run: () => this.chatCommand() });
      if (this.chat.busy) items.push({ label: '$(debug-stop) Cancel', run: () => this.cancel() });
      if (this.chat.turns.length) items.push({ label: '$(window) Show chat panel', run: () => this.panel.show(false) });
    }
    items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
    items.push({ label: '$(output) Show log', run: () => this.deps.log.show() });
    items.push({ label: '$(key) Set API key…', description: server.hasKey ? 'a key is set' : 'no key', run: () => this.setApiKey() });
    items.push({ label: '$(debug-restart) Restart server', run: () => server.restart('requested') });
    items.push({ label: '$(gear) Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', '@ext:deepseek-ls.deepseek-ls-vscode') });
    const view = this.deps.statusBar?.view();
    const lines = view ? view.tooltip.split('\n') : ['DeepSeek'];
    const pick = await vscode.window.showQuickPick(items, {
      title: lines[0],
      placeHolder: lines.find((l) => l.startsWith('Session:')) ?? view?.text.replace(/\$\([^)]*\)\s*/g, ''),
    });
    await pick?.run?.();
  }
}
