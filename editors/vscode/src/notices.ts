/**
 * The server's window/showMessage in VS Code (the decision is messages.ts's):
 * a message about the API key is a notification that closes by itself once
 * the key changes or the server restarts; the others are shown as the
 * language client would.
 */
import * as vscode from 'vscode';
import type { ShowMessageParams } from 'vscode-languageclient/node';
import { presentation } from './messages';

export class ServerNotices implements vscode.Disposable {
  /** Closes the notification about a missing / rejected key. */
  private closeKeyNotice?: () => void;

  show(params: ShowMessageParams): void {
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

  /** Close the notification about the key (it is stale: the key or the server changed). */
  dismissKeyNotice(): void {
    const close = this.closeKeyNotice;
    this.closeKeyNotice = undefined;
    close?.();
  }

  dispose(): void {
    this.dismissKeyNotice();
  }
}
