/**
 * DeepSeek for VS Code: starts the deepseek-ls language server with
 * vscode-languageclient and adds what LSP has no UI for: the API key in the
 * secret storage, a status bar item, and a chat panel fed by
 * `deepseek/chatStream` notifications.
 *
 * Ghost text is the language client's own inline completion provider
 * (`textDocument/inlineCompletion`); accepting an item runs its command
 * `deepseek.acceptCompletion`, which the client registered from the server's
 * `executeCommandProvider`.
 */
import * as vscode from 'vscode';
import * as fs from 'fs';
import * as os from 'os';
import { execFile } from 'child_process';
import {
  ExecuteCommandRequest, LanguageClient, LanguageClientOptions, RevealOutputChannelOn, ServerOptions,
  ShowMessageNotification, ShowMessageParams, State,
} from 'vscode-languageclient/node';
import { ChatModel, errorText, explainPrompt } from './chat';
import { CompletionFeedback, suggestionId } from './feedback';
import { keyInputProblem, presentation } from './messages';
import { ChatPanel } from './chatPanel';
import { LaunchProbe, resolveLaunch } from './launch';
import { LineSplitter, LogLevel, parseServerLogLine } from './serverLog';
import { filterConfigurationResult, RESTART_KEYS, SECTION, serverSettings } from './settings';
import { autoCompletionOff, ClientPhase, formatStatus, ServerStatus } from './status';

/** Name of the API key in VS Code's secret storage. */
export const SECRET_KEY = 'deepseek.apiKey';
const CLIENT_ID = 'deepseek';
const CLIENT_NAME = 'DeepSeek';

class DeepSeekExtension implements vscode.Disposable {
  private client?: LanguageClient;
  private phase: ClientPhase = 'stopped';
  private status?: ServerStatus;
  private hasKey = false;
  private detail?: string;
  private queue: Promise<void> = Promise.resolve();
  private readonly item: vscode.StatusBarItem;
  private readonly chat: ChatModel;
  private readonly panel: ChatPanel;
  private readonly disposables: vscode.Disposable[] = [];
  /** Closes the notification about a missing / rejected key (see messages.ts). */
  private closeKeyNotice?: () => void;
  /** Reports shown / partially accepted ghost text to the server (see feedback.ts). */
  private readonly feedback = new CompletionFeedback((method, params) => {
    const client = this.client;
    if (client && client.isRunning()) void client.sendNotification(method, params).catch(() => undefined);
  });

  constructor(private readonly context: vscode.ExtensionContext, readonly log: vscode.LogOutputChannel) {
    this.item = vscode.window.createStatusBarItem('deepseek.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'DeepSeek';
    this.item.command = 'deepseek.ui.statusMenu';
    this.chat = new ChatModel({
      exec: (command, arg) => this.exec(command, arg),
      onChange: (turn) => {
        this.panel.update(turn);
        this.render();
      },
    });
    this.panel = new ChatPanel(this.chat, {
      send: (text) => void this.askChat(text),
      cancel: () => void this.cancel(),
      newSession: () => this.chat.reset(),
    });
    this.disposables.push(this.item, this.panel);
    this.render();
    this.item.show();
  }

  // ---- lifecycle -------------------------------------------------------------

  /** Run lifecycle steps one after the other. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(step, step).catch((err) => this.log.error(`DeepSeek: ${errorText(err)}`));
    return this.queue;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  restart(reason: string): Promise<void> {
    this.log.info(`restarting the server: ${reason}`);
    return this.enqueue(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  private async doStart(): Promise<void> {
    this.setPhase('starting');
    this.status = undefined;
    // A new server process knows none of the old sessions.
    this.chat.session = undefined;
    const cfg = vscode.workspace.getConfiguration(SECTION);
    const launch = await resolveLaunch(
      { serverPath: cfg.get<string>('serverPath'), pythonPath: cfg.get<string>('pythonPath'), serverArgs: cfg.get<string[]>('serverArgs') },
      this.probe(),
    );
    if (!launch.ok) {
      this.setPhase('notInstalled', `${launch.message}\n${launch.detail ?? ''}`.trim());
      this.log.error(`${launch.message}${launch.detail ? `\n${launch.detail}` : ''}`);
      void this.offerFix(launch.detail ? `${launch.message} ${launch.detail}` : launch.message);
      return;
    }
    const key = (await this.context.secrets.get(SECRET_KEY))?.trim();
    this.hasKey = !!key || !!process.env.DEEPSEEK_API_KEY;
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (key) env.DEEPSEEK_API_KEY = key;
    this.log.info(`starting ${launch.description} ${launch.args.join(' ')}`.trim() +
      ` (API key: ${key ? 'from the secret storage' : process.env.DEEPSEEK_API_KEY ? 'from the environment' : 'none'})`);

    const serverOptions: ServerOptions = { command: launch.command, args: launch.args, options: { env } };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      stdioOptions: {
        // The server's log lines carry their level: keep it instead of logging all stderr as errors.
        stderr: (input, channel) => {
          const lines = new LineSplitter();
          let level: LogLevel = 'info';
          const write = (line: string) => {
            const parsed = parseServerLogLine(line, level);
            level = parsed.level;
            channel[parsed.level](`[server] ${parsed.text}`);
          };
          input.setEncoding('utf8');
          input.on('data', (chunk: string) => lines.push(chunk).forEach(write));
          input.on('end', () => lines.flush().forEach(write));
        },
        stdout: (input, channel) => {
          input.setEncoding('utf8');
          input.on('data', (chunk: string) => channel.info(chunk.trimEnd()));
        },
      },
      // deepseekClient: the server's no-key messages then name "DeepSeek: Set API Key"
      // deepseekSources: a key from the secret storage reaches the server as DEEPSEEK_API_KEY; its
      // messages then name "DeepSeek: Set API Key" instead of the variable
      initializationOptions: { [SECTION]: serverSettings(cfg), deepseekClient: 'vscode',
        deepseekSources: { apiKey: key ? 'secret' : 'env' } },
      synchronize: { configurationSection: SECTION },
      middleware: {
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const result = await next(document, position, context, token);
          if (result && !token.isCancellationRequested) {
            const items = Array.isArray(result) ? result : result.items;
            this.feedback.shown(document.uri.toString(), { line: position.line, character: position.character },
              items.map((i) => ({
                id: suggestionId(i.command),
                text: typeof i.insertText === 'string' ? i.insertText : i.insertText.value,
                start: i.range ? { line: i.range.start.line, character: i.range.start.character } : undefined,
              })));
          }
          return result;
        },
        workspace: {
          configuration: async (params, token, next) => {
            const result = await next(params, token);
            return Array.isArray(result) ? filterConfigurationResult(params.items, result) : result;
          },
        },
      },
    };
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    client.onNotification('deepseek/status', (params: ServerStatus) => {
      this.status = params;
      this.render();
    });
    client.onNotification('deepseek/chatStream', (params: unknown) => this.chat.onStreamEvent(params));
    // Registered before start(), so it replaces the language client's own showMessage handler.
    client.onNotification(ShowMessageNotification.type, (params: ShowMessageParams) => this.showServerMessage(params));
    client.onDidChangeState((e) => {
      if (this.client !== client) return;
      if (e.newState === State.Stopped && this.phase === 'running') {
        this.setPhase('stopped', 'The server stopped. Run "DeepSeek: Restart Server".');
      } else if (e.newState === State.Running && this.phase === 'stopped') {
        // The language client restarted a crashed server by itself.
        this.setPhase('running');
      }
    });
    this.client = client;
    try {
      await client.start();
      this.setPhase('running');
      const provider = client.initializeResult?.capabilities.inlineCompletionProvider;
      this.log.info(`server ${client.initializeResult?.serverInfo?.name ?? '?'} ${client.initializeResult?.serverInfo?.version ?? ''}` +
        ` started; inline completions ${provider ? 'advertised' : 'NOT advertised'}`);
    } catch (err) {
      this.setPhase('failed', `The server failed to start: ${errorText(err)}`);
      this.log.error(`the server failed to start: ${errorText(err)}`);
      void vscode.window.showErrorMessage(`DeepSeek: the server failed to start: ${errorText(err)}`, 'Show Log', 'Open Settings')
        .then((pick) => this.onFixPick(pick));
    }
  }

  /** A server message; one about the key closes itself once the key changes. */
  private showServerMessage(params: ShowMessageParams): void {
    const how = presentation(params.type, params.message);
    if (how === 'keyNotice') {
      this.dismissKeyNotice();
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: params.message, cancellable: true },
        (_progress, token) => new Promise<void>((resolve) => {
          this.closeKeyNotice = resolve;
          token.onCancellationRequested(() => resolve());
        }),
      );
    } else if (how === 'error') {
      void vscode.window.showErrorMessage(params.message);
    } else if (how === 'warning') {
      void vscode.window.showWarningMessage(params.message);
    } else {
      void vscode.window.showInformationMessage(params.message);
    }
  }

  private dismissKeyNotice(): void {
    const close = this.closeKeyNotice;
    this.closeKeyNotice = undefined;
    close?.();
  }

  private async doStop(): Promise<void> {
    // a restarted server says again what is still wrong; what it said before is stale
    this.dismissKeyNotice();
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.log.warn(`stopping the server: ${errorText(err)}`);
      }
    }
    this.setPhase('stopped');
  }

  private probe(): LaunchProbe {
    return {
      isExecutable: (file) => {
        try {
          if (!fs.statSync(file).isFile()) return false;
          if (process.platform !== 'win32') fs.accessSync(file, fs.constants.X_OK);
          return true;
        } catch {
          return false;
        }
      },
      canImport: (python, module) => new Promise((resolve) => {
        const code = 'import sys; assert sys.version_info >= (3, 11), ' +
          `"deepseek-ls needs Python 3.11 or newer, this is " + sys.version.split()[0]; import ${module}`;
        execFile(python, ['-c', code], { timeout: 20000, cwd: os.tmpdir() }, (err, _stdout, stderr) => {
          resolve(err ? { ok: false, error: (String(stderr).trim() || errorText(err)).split('\n').slice(-3).join('\n') } : { ok: true });
        });
      }),
      env: process.env,
      platform: process.platform,
      home: os.homedir(),
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    };
  }

  private async offerFix(message: string): Promise<void> {
    const pick = await vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log', 'Retry');
    this.onFixPick(pick);
  }

  private onFixPick(pick: string | undefined): void {
    if (pick === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'deepseek.serverPath');
    else if (pick === 'Show Log') this.log.show();
    else if (pick === 'Retry') void this.restart('retry');
  }

  private setPhase(phase: ClientPhase, detail?: string): void {
    this.phase = phase;
    this.detail = detail;
    this.render();
  }

  private render(): void {
    const view = formatStatus({ phase: this.phase, status: this.status, hasKey: this.hasKey, chatBusy: this.chat.busy, detail: this.detail,
      activeUri: vscode.window.activeTextEditor?.document.uri.toString() });
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.severity === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : view.severity === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    void vscode.commands.executeCommand('setContext', 'deepseek.busy', this.chat.busy);
  }

  // ---- server commands ---------------------------------------------------------

  /** Run a server command through `workspace/executeCommand`. */
  private async exec(command: string, arg: Record<string, unknown>): Promise<unknown> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      throw new Error('the DeepSeek server is not running (see "DeepSeek: Show Log")');
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] });
  }

  private requireClient(): LanguageClient | undefined {
    if (this.client && this.client.isRunning()) return this.client;
    void vscode.window.showWarningMessage(
      this.phase === 'starting' ? 'DeepSeek: the server is still starting.' : `DeepSeek: the server is not running. ${this.detail ?? ''}`.trim(),
      'Show Log').then((pick) => this.onFixPick(pick));
    return undefined;
  }

  async explainSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('DeepSeek: open a file and select code to explain.');
      return;
    }
    const client = this.requireClient();
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
    if (!this.requireClient()) return;
    const message = await vscode.window.showInputBox({
      title: 'DeepSeek Chat',
      prompt: this.chat.session ? 'Follow-up question (same session; "DeepSeek: New Chat Session" starts over)' : 'Ask DeepSeek',
      placeHolder: 'Ask about your code…',
      ignoreFocusOut: true,
    });
    if (message?.trim()) await this.askChat(message.trim());
  }

  private async askChat(message: string): Promise<void> {
    const client = this.requireClient();
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
      .then((pick) => this.onFixPick(pick));
  }

  async cancel(): Promise<void> {
    if (!this.requireClient()) return;
    try {
      const n = await this.chat.cancel();
      vscode.window.setStatusBarMessage(`DeepSeek: cancelled ${n} request${n === 1 ? '' : 's'}`, 3000);
    } catch (err) {
      void vscode.window.showErrorMessage(`DeepSeek: cancel failed: ${errorText(err)}`);
    }
  }

  async toggleAutoCompletion(enabled?: boolean): Promise<void> {
    if (!this.requireClient()) return;
    try {
      const result = (await this.exec('deepseek.toggleAutoCompletion', enabled === undefined ? {} : { enabled })) as { enabled?: boolean } | null;
      const on = !!result?.enabled;
      if (this.status) this.status = { ...this.status, autoCompletion: on };
      this.render();
      vscode.window.setStatusBarMessage(`DeepSeek: automatic completions ${on ? 'on' : 'off'}`, 3000);
    } catch (err) {
      void vscode.window.showErrorMessage(`DeepSeek: ${errorText(err)}`);
    }
  }

  async setApiKey(): Promise<void> {
    const key = await vscode.window.showInputBox({
      title: 'DeepSeek API Key',
      prompt: 'Stored in VS Code\'s secret storage (never in settings.json) and passed to the server as DEEPSEEK_API_KEY.',
      placeHolder: 'sk-…',
      password: true,
      ignoreFocusOut: true,
      validateInput: keyInputProblem,
    });
    if (!key?.trim() || keyInputProblem(key)) return;
    // The secret storage's change event restarts the server (in every window).
    this.dismissKeyNotice();
    await this.context.secrets.store(SECRET_KEY, key.trim());
    vscode.window.setStatusBarMessage('DeepSeek: API key saved; restarting the server', 4000);
  }

  async clearApiKey(): Promise<void> {
    await this.context.secrets.delete(SECRET_KEY);
    vscode.window.setStatusBarMessage('DeepSeek: API key removed', 4000);
  }

  async statusMenu(): Promise<void> {
    type Item = vscode.QuickPickItem & { run?: () => unknown };
    const off = autoCompletionOff(this.status);
    const running = this.phase === 'running';
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
    items.push({ label: '$(output) Show log', run: () => this.log.show() });
    items.push({ label: '$(key) Set API key…', description: this.hasKey ? 'a key is set' : 'no key', run: () => this.setApiKey() });
    items.push({ label: '$(debug-restart) Restart server', run: () => this.restart('requested') });
    items.push({ label: '$(gear) Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', '@ext:deepseek-ls.deepseek-ls-vscode') });
    const view = formatStatus({ phase: this.phase, status: this.status, hasKey: this.hasKey, chatBusy: this.chat.busy, detail: this.detail,
      activeUri: vscode.window.activeTextEditor?.document.uri.toString() });
    const lines = view.tooltip.split('\n');
    const pick = await vscode.window.showQuickPick(items, {
      title: lines[0],
      placeHolder: lines.find((l) => l.startsWith('Session:')) ?? view.text.replace(/\$\([^)]*\)\s*/g, ''),
    });
    await pick?.run?.();
  }

  // ---- wiring --------------------------------------------------------------------

  register(): void {
    const cmd = (id: string, fn: () => unknown) => this.disposables.push(vscode.commands.registerCommand(id, fn));
    cmd('deepseek.ui.setApiKey', () => this.setApiKey());
    cmd('deepseek.ui.clearApiKey', () => this.clearApiKey());
    cmd('deepseek.ui.explainSelection', () => this.explainSelection());
    cmd('deepseek.ui.chat', () => this.chatCommand());
    cmd('deepseek.ui.newChat', () => this.chat.reset());
    cmd('deepseek.ui.cancel', () => this.cancel());
    cmd('deepseek.ui.toggleAutoCompletion', () => this.toggleAutoCompletion());
    cmd('deepseek.ui.statusMenu', () => this.statusMenu());
    cmd('deepseek.ui.showLog', () => this.log.show());
    cmd('deepseek.ui.restartServer', () => this.restart('requested'));
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.feedback.changed(e.document.uri.toString(), e.contentChanges)),
      // state `excluded` shows only while its file is in the active editor
      vscode.window.onDidChangeActiveTextEditor(() => { if (this.status?.state === 'excluded') this.render(); }),
      this.context.secrets.onDidChange((e) => {
        if (e.key === SECRET_KEY) void this.restart('the API key changed');
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (RESTART_KEYS.some((k) => e.affectsConfiguration(`${SECTION}.${k}`))) void this.restart('the server settings changed');
      }),
    );
  }

  dispose(): void {
    this.dismissKeyNotice();
    for (const d of this.disposables) d.dispose();
  }
}

let extension: DeepSeekExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
  context.subscriptions.push(log);
  extension = new DeepSeekExtension(context, log);
  context.subscriptions.push(extension);
  extension.register();
  await extension.start();
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
}
