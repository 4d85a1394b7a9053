/**
 * DeepSeek for VS Code: starts the deepseek-ls language server with
 * vscode-languageclient and adds what LSP has no UI for. This file only wires
 * the parts together; each has one job:
 *
 *   client.ts      the language client's lifecycle (start, stop, restart, server traffic)
 *   apiKey.ts      the API key in the secret storage
 *   notices.ts     the server's messages (the key notice that closes itself)
 *   statusBar.ts   the status bar item (text from status.ts)
 *   commands.ts    the `deepseek.ui.*` commands and the status menu
 *   chat.ts / chatPanel.ts   the chat conversation and its panel
 *   feedback.ts    shown / partially accepted ghost text reports
 *   definitions.ts the `deepseek/definitions` request (the editor's definition providers)
 */
import * as vscode from 'vscode';
import { ApiKeyStore } from './apiKey';
import { ChatModel } from './chat';
import { ChatPanel } from './chatPanel';
import { CLIENT_NAME, ServerClient } from './client';
import { Commands, CommandsDeps } from './commands';
import { CompletionFeedback } from './feedback';
import { ServerNotices } from './notices';
import { RESTART_KEYS, SECTION } from './settings';
import { StatusBar } from './statusBar';

let server: ServerClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
  const keys = new ApiKeyStore(context.secrets);
  const notices = new ServerNotices();
  // created below; the callbacks run only after activate() set them
  let statusBar: StatusBar | undefined;
  let panel: ChatPanel | undefined;
  const chat: ChatModel = new ChatModel({
    exec: (command, arg): Promise<unknown> => client.exec(command, arg),
    onChange: (turn) => {
      panel?.update(turn);
      statusBar?.render();
    },
  });
  const feedback = new CompletionFeedback((method, params) => client.notify(method, params));
  const client: ServerClient = new ServerClient({ log, keys, notices, chat, feedback, onChange: () => statusBar?.render() });
  server = client;
  const deps: CommandsDeps = { server: client, chat, keys, notices, log };
  const commands = new Commands(deps);
  panel = new ChatPanel(chat, {
    send: (text) => void commands.askChat(text),
    cancel: () => void commands.cancel(),
    newSession: () => chat.reset(),
  });
  statusBar = new StatusBar(client, chat);
  deps.panel = panel;
  deps.statusBar = statusBar;
  context.subscriptions.push(
    log, notices, panel, statusBar,
    ...commands.register(),
    vscode.workspace.onDidChangeTextDocument((e) => feedback.changed(e.document.uri.toString(), e.contentChanges)),
    // state `excluded` shows only while its file is in the active editor
    vscode.window.onDidChangeActiveTextEditor(() => { if (client.status?.state === 'excluded') statusBar?.render(); }),
    keys.onDidChange(() => void client.restart('the API key changed')),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (RESTART_KEYS.some((k) => e.affectsConfiguration(`${SECTION}.${k}`))) void client.restart('the server settings changed');
    }),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}
