/**
 * The "DeepSeek Chat" webview panel: shows the turns of a ChatModel and takes
 * follow-up questions. Rendering is throttled while an answer streams.
 */
import * as vscode from 'vscode';
import * as crypto from 'crypto';
import type { ChatModel, Turn } from './chat';
import { renderTurn } from './render';

const RENDER_INTERVAL_MS = 50;

type FromWebview = { type: 'send'; text: string } | { type: 'cancel' } | { type: 'new' } | { type: 'ready' };

export interface ChatPanelHandlers {
  send(text: string): void;
  cancel(): void;
  newSession(): void;
}

export class ChatPanel implements vscode.Disposable {
  private panel?: vscode.WebviewPanel;
  private ready = false;
  private readonly dirty = new Set<number>();
  private fullRender = true;
  private timer?: NodeJS.Timeout;

  constructor(private readonly model: ChatModel, private readonly handlers: ChatPanelHandlers) {}

  /** Open (or reveal) the panel beside the editor. */
  show(preserveFocus = true): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    this.ready = false;
    this.fullRender = true;
    const panel = vscode.window.createWebviewPanel(
      'deepseekChat', 'DeepSeek Chat',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [] },
    );
    this.panel = panel;
    panel.webview.html = pageHtml(panel.webview.cspSource);
    panel.webview.onDidReceiveMessage((msg: FromWebview) => {
      switch (msg?.type) {
        case 'ready': this.ready = true; this.fullRender = true; this.schedule(); break;
        case 'send': if (msg.text?.trim()) this.handlers.send(msg.text.trim()); break;
        case 'cancel': this.handlers.cancel(); break;
        case 'new': this.handlers.newSession(); break;
        default: break;
      }
    });
    panel.onDidDispose(() => {
      this.panel = undefined;
      this.ready = false;
    });
  }

  /** The panel is open and visible. */
  get visible(): boolean {
    return !!this.panel?.visible;
  }

  /** A turn changed (undefined: the list changed). */
  update(turn: Turn | undefined): void {
    if (turn) this.dirty.add(turn.id);
    else this.fullRender = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || !this.panel) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, RENDER_INTERVAL_MS);
  }

  private flush(): void {
    if (!this.panel || !this.ready) return;
    const webview = this.panel.webview;
    if (this.fullRender) {
      this.fullRender = false;
      this.dirty.clear();
      void webview.postMessage({ type: 'all', html: this.model.turns.map(renderTurn).join(''), busy: this.model.busy });
      return;
    }
    for (const id of this.dirty) {
      const turn = this.model.turns.find((t) => t.id === id);
      if (turn) void webview.postMessage({ type: 'turn', id, html: renderTurn(turn), busy: this.model.busy });
    }
    this.dirty.clear();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.panel?.dispose();
  }
}

function pageHtml(cspSource: string): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${cspSource} https: data:; style-src 'unsafe-inline'; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>DeepSeek Chat</title>
<style>
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 12px 90px; }
.turn { border-bottom: 1px solid var(--vscode-panel-border, #8884); padding: 8px 0; }
.who { font-weight: 600; opacity: .8; margin-bottom: 2px; }
.prompt { margin-bottom: 8px; }
pre { background: var(--vscode-textCodeBlock-background); padding: 6px 8px; overflow-x: auto; border-radius: 3px; }
code { font-family: var(--vscode-editor-font-family); }
.waiting { opacity: .7; font-style: italic; }
.error { color: var(--vscode-errorForeground); }
.meta { opacity: .7; font-size: .9em; margin-top: 4px; }
details.reasoning { opacity: .8; margin: 4px 0; }
#empty { opacity: .7; margin-top: 16px; }
form { position: fixed; left: 0; right: 0; bottom: 0; padding: 8px 12px; background: var(--vscode-editor-background); display: flex; gap: 6px; border-top: 1px solid var(--vscode-panel-border, #8884); }
textarea { flex: 1; resize: none; height: 2.6em; color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); font-family: inherit; }
button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 0 10px; cursor: pointer; }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
button[hidden] { display: none; }
</style></head>
<body>
<div id="turns"></div>
<div id="empty">Select code and run <b>DeepSeek: Explain Selection</b>, or ask a question below.</div>
<form id="ask">
  <textarea id="input" placeholder="Ask DeepSeek (Enter to send, Shift+Enter for a new line)"></textarea>
  <button type="submit" id="send">Send</button>
  <button type="button" id="stop" class="secondary" hidden>Stop</button>
  <button type="button" id="new" class="secondary" title="Start a new chat session">New</button>
</form>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const turns = document.getElementById('turns');
const empty = document.getElementById('empty');
const input = document.getElementById('input');
const stop = document.getElementById('stop');
function setBusy(busy) { stop.hidden = !busy; }
function nearBottom() { return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40; }
window.addEventListener('message', (event) => {
  const msg = event.data;
  const follow = nearBottom();
  if (msg.type === 'all') {
    turns.innerHTML = msg.html;
  } else if (msg.type === 'turn') {
    const old = turns.querySelector('[data-turn="' + msg.id + '"]');
    const tmp = document.createElement('div');
    tmp.innerHTML = msg.html;
    if (old) old.replaceWith(tmp.firstChild); else turns.appendChild(tmp.firstChild);
  }
  empty.hidden = turns.children.length > 0;
  setBusy(!!msg.busy);
  if (follow) window.scrollTo(0, document.body.scrollHeight);
});
document.getElementById('ask').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  vscode.postMessage({ type: 'send', text });
  input.value = '';
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); document.getElementById('send').click(); }
});
stop.addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
document.getElementById('new').addEventListener('click', () => vscode.postMessage({ type: 'new' }));
vscode.postMessage({ type: 'ready' });
</script>
</body></html>`;
}
