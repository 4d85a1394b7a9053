/**
 * The status bar item: the text, tooltip and colour status.ts computes from
 * the client's phase, the server's last `deepseek/status` and the chat; a
 * click opens the status menu (commands.ts).
 */
import * as vscode from 'vscode';
import { formatStatus, StatusView } from './status';
import type { ServerClient } from './client';
import type { ChatModel } from './chat';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor(private readonly server: ServerClient, private readonly chat: ChatModel) {
    this.item = vscode.window.createStatusBarItem('deepseek.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'DeepSeek';
    this.item.command = 'deepseek.ui.statusMenu';
    this.render();
    this.item.show();
  }

  /** What the item shows now. */
  view(): StatusView {
    const s = this.server;
    return formatStatus({ phase: s.phase, status: s.status, hasKey: s.hasKey, chatBusy: this.chat.busy, detail: s.detail,
      activeUri: vscode.window.activeTextEditor?.document.uri.toString() });
  }

  render(): void {
    const view = this.view();
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.severity === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : view.severity === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    void vscode.commands.executeCommand('setContext', 'deepseek.busy', this.chat.busy);
  }

  dispose(): void {
    this.item.dispose();
  }
}
