/**
 * The language client's lifecycle: find the server (launch.ts), start it with
 * vscode-languageclient (stdio, the key from the secret storage in its
 * environment), stop and restart it one step after the other, and keep the
 * client's phase and the server's last `deepseek/status` for the status bar.
 *
 * Ghost text is the language client's own inline completion provider
 * (`textDocument/inlineCompletion`); the middleware only reports shown items
 * (feedback.ts). Server → client traffic handled here: `deepseek/status`,
 * `deepseek/chatStream` (chat.ts), `window/showMessage` (notices.ts) and the
 * `deepseek/definitions` request (definitions.ts).
 */
import * as vscode from 'vscode';
import * as fs from 'fs';
import * as os from 'os';
import { execFile } from 'child_process';
import {
  ExecuteCommandRequest, LanguageClient, LanguageClientOptions, RevealOutputChannelOn, ServerOptions,
  ShowMessageNotification, ShowMessageParams, State,
} from 'vscode-languageclient/node';
import type { ApiKeyStore } from './apiKey';
import { ChatModel, errorText } from './chat';
import { answerDefinitions, DEFINITIONS_METHOD, ProviderAnswer } from './definitions';
import { CompletionFeedback, suggestionId } from './feedback';
import { LaunchProbe, resolveLaunch } from './launch';
import type { ServerNotices } from './notices';
import { LineSplitter, LogLevel, parseServerLogLine } from './serverLog';
import { filterConfigurationResult, SECTION, serverSettings } from './settings';
import { ClientPhase, ServerStatus } from './status';

const CLIENT_ID = 'deepseek';
export const CLIENT_NAME = 'DeepSeek';

export interface ServerClientDeps {
  log: vscode.LogOutputChannel;
  keys: ApiKeyStore;
  notices: ServerNotices;
  chat: ChatModel;
  feedback: CompletionFeedback;
  /** Called when the phase, the server status or the key presence changed. */
  onChange: () => void;
}

export class ServerClient {
  /** The running (or starting) language client. */
  client?: LanguageClient;
  phase: ClientPhase = 'stopped';
  /** The server's last `deepseek/status` (undefined until it sends one). */
  status?: ServerStatus;
  /** A key is in the secret storage or the environment. */
  hasKey = false;
  /** Why the client is not running (shown in the status tooltip). */
  detail?: string;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ServerClientDeps) {}

  private get log(): vscode.LogOutputChannel {
    return this.deps.log;
  }

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

  /** Keep the server's status (e.g. after a command changed it) and show it. */
  setStatus(status: ServerStatus | undefined): void {
    this.status = status;
    this.deps.onChange();
  }

  /** Run a server command through `workspace/executeCommand`. */
  async exec(command: string, arg: Record<string, unknown>): Promise<unknown> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      throw new Error('the DeepSeek server is not running (see "DeepSeek: Show Log")');
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] });
  }

  /** Send a notification when the server runs (dropped otherwise). */
  notify(method: string, params: Record<string, unknown>): void {
    const client = this.client;
    if (client && client.isRunning()) void client.sendNotification(method, params).catch(() => undefined);
  }

  /** The running client, or undefined after telling the user why there is none. */
  requireClient(): LanguageClient | undefined {
    if (this.client && this.client.isRunning()) return this.client;
    void vscode.window.showWarningMessage(
      this.phase === 'starting' ? 'DeepSeek: the server is still starting.' : `DeepSeek: the server is not running. ${this.detail ?? ''}`.trim(),
      'Show Log').then((pick) => this.onFixPick(pick));
    return undefined;
  }

  /** What the buttons of an error message do. */
  onFixPick(pick: string | undefined): void {
    if (pick === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'deepseek.serverPath');
    else if (pick === 'Show Log') this.log.show();
    else if (pick === 'Retry') void this.restart('retry');
  }

  private async offerFix(message: string): Promise<void> {
    const pick = await vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log', 'Retry');
    this.onFixPick(pick);
  }

  private setPhase(phase: ClientPhase, detail?: string): void {
    this.phase = phase;
    this.detail = detail;
    this.deps.onChange();
  }

  private async doStart(): Promise<void> {
    const { chat, feedback, notices } = this.deps;
    this.setPhase('starting');
    this.status = undefined;
    // A new server process knows none of the old sessions.
    chat.session = undefined;
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
    const key = await this.deps.keys.get();
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
      // deepseekDefinitions: this client answers deepseek/definitions (definitions.ts)
      initializationOptions: { [SECTION]: serverSettings(cfg), deepseekClient: 'vscode',
        deepseekSources: { apiKey: key ? 'secret' : 'env' }, deepseekDefinitions: true },
      synchronize: { configurationSection: SECTION },
      middleware: {
        // deepseek-ls gives no definitions to the user; this also keeps vscode.executeDefinitionProvider
        // (how deepseek/definitions is answered) from ever asking deepseek-ls itself
        provideDefinition: () => null,
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const result = await next(document, position, context, token);
          if (result && !token.isCancellationRequested) {
            const items = Array.isArray(result) ? result : result.items;
            feedback.shown(document.uri.toString(), { line: position.line, character: position.character },
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
    client.onNotification('deepseek/status', (params: ServerStatus) => this.setStatus(params));
    client.onNotification('deepseek/chatStream', (params: unknown) => chat.onStreamEvent(params));
    // Registered before start(), so it replaces the language client's own showMessage handler.
    client.onNotification(ShowMessageNotification.type, (params: ShowMessageParams) => notices.show(params));
    client.onRequest(DEFINITIONS_METHOD, (params: unknown, token: vscode.CancellationToken) =>
      answerDefinitions(params, (uri, position) => vscode.commands.executeCommand<ProviderAnswer>(
        'vscode.executeDefinitionProvider', vscode.Uri.parse(uri), new vscode.Position(position.line, position.character),
      ), undefined, token));
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

  private async doStop(): Promise<void> {
    // a restarted server says again what is still wrong; what it said before is stale
    this.deps.notices.dismissKeyNotice();
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
}
