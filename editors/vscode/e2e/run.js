// End-to-end test through the real VS Code UI (code-server in Debian Chromium, driven by playwright-core).
// Started by scripts/e2e.sh, which provides: E2E_URL, E2E_SHOTS (screenshot dir), E2E_RUN (run dir).
// Steps: set the API key with "DeepSeek: Set API Key"; type in demo.py and see ghost text from the fake;
// accept it with Tab and check the document; toggle automatic completions from the status bar menu;
// "DeepSeek: Explain Selection" and "DeepSeek: Chat" stream into the chat panel; then
// deepseek/definitions: the real deepseek-ls (its parser off) gets the definition of a name from
// another file through VS Code's TypeScript into a FIM prompt at the fake; and the exact answer
// (positions, UTF-16 columns, nulls) against a stand-in server.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const URL = process.env.E2E_URL;
const SHOTS = process.env.E2E_SHOTS;
const RUN = process.env.E2E_RUN;
const t0 = Date.now();
const results = [];
function log(msg) { console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`); }
function check(name, ok, detail = '') {
  results.push({ name, ok });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  return ok;
}

/** Text of the DeepSeek status bar item (id `<extension id>.deepseek.status`), and its codicon names. */
async function statusItem(page) {
  const item = page.locator('[id$="deepseek.status"]').first();
  if (!(await item.count())) return { text: '', icons: [] };
  const text = (await item.innerText()).replace(/\s+/g, ' ').trim();
  const icons = await item.locator('.codicon').evaluateAll((els) => els.map((e) => [...e.classList].find((c) => c.startsWith('codicon-') && c !== 'codicon-modifier-spin')).map((c) => c && c.slice('codicon-'.length)));
  return { text, icons };
}

async function waitFor(fn, timeoutMs, intervalMs = 200) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return last;
}

async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await page.keyboard.type(title, { delay: 10 });
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press('Enter');
}

/** The editor's text, lines in order (non-breaking spaces as spaces). */
async function editorText(page) {
  return page.$eval('.editor-group-container.active .monaco-editor .view-lines', (el) => [...el.children]
    .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
    .map((l) => l.textContent.replace(/\u00a0/g, ' ')).join('\n'));
}

/** Text of the chat webview (nested iframes), or ''. */
async function webviewText(page) {
  for (const frame of page.frames()) {
    try {
      const text = await frame.evaluate(() => (document.getElementById('turns') ? document.body.innerText : ''));
      if (text) return text;
    } catch { /* frame gone or cross-origin while loading */ }
  }
  return '';
}

/** Change the fake DeepSeek's behaviour at run time. */
async function fakeConfig(settings) {
  const r = await fetch(`${process.env.E2E_FAKE_URL}/__fake__/config`, { method: 'POST', body: JSON.stringify(settings) });
  if (!r.ok) throw new Error(`fake config ${JSON.stringify(settings)}: HTTP ${r.status}`);
}

/** The fake's recorded FIM requests after sequence number `since`: [{seq, prompt, suffix}]. */
async function fimRequests(since = 0) {
  const r = await fetch(`${process.env.E2E_FAKE_URL}/__fake__/requests?since=${since}&raw=0`);
  if (!r.ok) throw new Error(`fake requests: HTTP ${r.status}`);
  return (await r.json()).filter((q) => /\/completions$/.test(q.path) && !/chat/.test(q.path) && q.body)
    .map((q) => ({ seq: q.seq, prompt: String(q.body.prompt || ''), suffix: String(q.body.suffix || '') }));
}

/** The extension's log (the DeepSeek output channel's file in code-server's log folder). */
function clientLog() {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'DeepSeek.log') found.push(p);
    }
  };
  try { walk(path.join(RUN, 'user', 'logs')); } catch { /* no logs yet */ }
  return found.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
}

async function shot(page, name) {
  const file = path.join(SHOTS, name);
  await page.screenshot({ path: file });
  log(`screenshot ${path.relative(process.cwd(), file)}`);
}

(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' && /deepseek/i.test(m.text())) log(`console.error: ${m.text().slice(0, 300)}`); });
  try {
    await page.goto(URL, { waitUntil: 'domcontentloaded', timeout: 60000 });
    await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    log('workbench loaded');

    // 1. The extension activates and shows its status; no key yet.
    let st = await waitFor(async () => { const s = await statusItem(page); return s.text && !s.icons.includes('loading') ? s : null; }, 30000);
    check('status bar item appears', !!st?.text, JSON.stringify(st));
    const noKey = await waitFor(async () => { const s = await statusItem(page); return /set API key/.test(s.text) ? s : null; }, 10000);
    check('without a key the status bar asks for one', !!noKey, JSON.stringify(noKey || await statusItem(page)));
    await shot(page, 'status-no-key.debug.png');
    const toastText = async () => (await page.locator('.notifications-toasts').innerText().catch(() => '')).replace(/\s+/g, ' ');
    const keyToast = await waitFor(async () => { const t = await toastText(); return /No DeepSeek API key/.test(t) ? t : null; }, 10000);
    check('without a key one notification says so and names "DeepSeek: Set API Key"',
      !!keyToast && /DeepSeek: Set API Key/.test(keyToast) && !/deepseek\.apiKey/.test(keyToast), JSON.stringify(keyToast));

    // 2. DeepSeek: Set API Key (input box, secret storage) restarts the server with the key.
    await runCommand(page, 'DeepSeek: Set API Key');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'DeepSeek API Key' }).waitFor({ timeout: 10000 });
    await page.locator('.quick-input-widget input[type="password"]').waitFor({ timeout: 10000 });
    await page.keyboard.type('sk-test');
    await page.keyboard.press('Enter');
    st = await waitFor(async () => { const s = await statusItem(page); return s.icons.includes('sparkle') ? s : null; }, 30000);
    check('after "Set API Key" the server runs with the key (sparkle icon)', !!st, JSON.stringify(await statusItem(page)));
    const stale = await waitFor(async () => { const t = await toastText(); return /No DeepSeek API key/.test(t) ? null : t || 'none'; }, 10000);
    check('after "Set API Key" the no-key notification is gone', !!stale, JSON.stringify(await toastText()));
    await shot(page, 'key-set.png');

    // 3. Open demo.py, type, see ghost text from the fake.
    await page.keyboard.press('Control+P');
    await page.keyboard.type('demo.py', { delay: 20 });
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'demo.py' }).first().waitFor({ timeout: 20000 });
    await page.keyboard.press('Enter');
    await page.waitForSelector('.editor-group-container.active .monaco-editor .view-lines', { timeout: 30000 });
    await page.waitForTimeout(500);
    await page.click('.editor-group-container.active .monaco-editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('    for _ in ra', { delay: 60 });
    const ghost = await waitFor(async () => {
      const parts = await page.$$eval('.ghost-text-decoration, .ghost-text', (els) => els.map((e) => e.textContent));
      const text = parts.join('').replace(/\u00a0/g, ' ');
      return text.trim() ? text : null;
    }, 20000);
    check('ghost text shown', !!ghost, JSON.stringify(ghost));
    check('ghost text is the fake\'s completion', !!ghost && ghost.startsWith('nge(n):'), JSON.stringify(ghost));
    await shot(page, 'ghost-text.png');
    const shownSent = await waitFor(async () => /Sending notification 'deepseek\/didShowCompletion'/.test(clientLog()), 5000);
    check('the shown ghost text was reported (deepseek/didShowCompletion)', !!shownSent);

    // 4. Tab accepts it; the accept command (deepseek.acceptCompletion) must run without error.
    await page.keyboard.press('Tab');
    await page.waitForTimeout(800);
    const text = await editorText(page);
    log(`document after Tab:\n${text}`);
    check('Tab inserted the completion', /\n    for _ in range\(n\):/.test(text));
    check('ghost text gone after Tab', (await page.$$('.ghost-text-decoration')).length === 0);
    const toasts = await page.locator('.notifications-toasts').innerText().catch(() => '');
    check('no "command not found" toast after accepting', !/command .*not found/i.test(toasts), JSON.stringify(toasts.slice(0, 300)));
    await shot(page, 'accepted.png');
    // The language client traces its messages (deepseek.trace.server = verbose, code-server --log trace).
    const ACCEPT = /Sending request 'workspace\/executeCommand - \((\d+)\)'\.\s*Params: \{\s*"command": "deepseek\.acceptCompletion"/;
    const sent = await waitFor(async () => {
      const m = ACCEPT.exec(clientLog());
      return m && clientLog().includes(`Received response 'workspace/executeCommand - (${m[1]})'`) ? m[0] : null;
    }, 5000);
    check('accepting ran deepseek.acceptCompletion on the server (workspace/executeCommand)', !!sent);
    st = await waitFor(async () => { const s = await statusItem(page); return /\$\d/.test(s.text) ? s : null; }, 10000);
    check('status bar shows session cost and cache hits', !!st && /% cache/.test(st.text), JSON.stringify(await statusItem(page)));

    // 5. The status bar menu turns automatic completions off and on (server command deepseek.toggleAutoCompletion).
    await page.locator('[id$="deepseek.status"]').first().click();
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'automatic completions off' }).first().waitFor({ timeout: 10000 });
    await shot(page, 'status-menu.png');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'automatic completions off' }).first().click();
    st = await waitFor(async () => { const s = await statusItem(page); return s.icons.includes('circle-slash') ? s : null; }, 10000);
    check('menu: automatic completions off', !!st, JSON.stringify(await statusItem(page)));
    await page.locator('[id$="deepseek.status"]').first().click();
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'automatic completions on' }).first().click({ timeout: 10000 });
    st = await waitFor(async () => { const s = await statusItem(page); return s.icons.includes('sparkle') ? s : null; }, 10000);
    check('menu: automatic completions on again', !!st, JSON.stringify(await statusItem(page)));

    // 6. Explain Selection streams into the chat panel.
    await page.click('.editor-group-container.active .monaco-editor .view-lines');
    // Select the function fibonacci (lines 13-16).
    await page.keyboard.press('Control+End');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowUp');
    await page.keyboard.press('Shift+Home');
    await runCommand(page, 'DeepSeek: Explain Selection');
    let wv = await waitFor(async () => { const t = await webviewText(page); return /deterministic reply from the fake DeepSeek/.test(t) && !/Waiting for DeepSeek/.test(t) ? t : null; }, 30000);
    check('Explain Selection: the answer is in the chat panel', !!wv, JSON.stringify((wv || await webviewText(page)).slice(0, 400)));
    const deltas = (clientLog().match(/"stream": "vscode-1-[a-z0-9]+",\s*"session": "[^"]*",\s*"event": "content"/g) || []).length;
    check('the explanation arrived as deepseek/chatStream deltas', deltas > 0, `${deltas} content notifications for the panel's stream`);
    await page.waitForTimeout(300);
    await shot(page, 'explain.png');

    // 7. DeepSeek: Chat asks a follow-up in the same panel.
    await page.click('.editor-group-container .monaco-editor .view-lines');
    await page.keyboard.press('Control+End');
    await runCommand(page, 'DeepSeek: Chat');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'DeepSeek Chat' }).waitFor({ timeout: 10000 });
    await page.keyboard.type('What does fibonacci(10) return?');
    await page.keyboard.press('Enter');
    wv = await waitFor(async () => { const t = await webviewText(page); return (t.match(/deterministic reply/g) || []).length >= 2 && !/Waiting for DeepSeek/.test(t) ? t : null; }, 30000);
    check('Chat: the follow-up answer is in the chat panel', !!wv && /fibonacci\(10\)/.test(wv), JSON.stringify((wv || await webviewText(page)).slice(-400)));
    const sessions = [...clientLog().matchAll(/"command": "deepseek\.chat",\s*"arguments": \[\s*\{[^}]*"session": "([^"]+)"/g)].map((m) => m[1]);
    const explained = /"stream": "vscode-1-[a-z0-9]+",\s*"session": "([^"]+)"/.exec(clientLog());
    check('the follow-up was sent in the explanation\'s session', !!explained && sessions.includes(explained[1]),
      `explain session ${explained && explained[1]}, chat sent with ${JSON.stringify(sessions)}`);
    await page.waitForTimeout(300);
    await shot(page, 'chat.png');

    // 8. A slow answer, asked in the panel's own input box, stopped with "DeepSeek: Cancel".
    await fakeConfig({ ms_per_output_token: 400 });
    const panelFrame = await waitFor(async () => {
      for (const f of page.frames()) {
        try { if (await f.$('#input')) return f; } catch { /* loading */ }
      }
      return null;
    }, 5000);
    await panelFrame.fill('#input', 'Tell me a long story about Fibonacci');
    await panelFrame.press('#input', 'Enter');
    const partial = await waitFor(async () => {
      const t = await webviewText(page);
      return /Tell me a long story[\s\S]*DeepSeek\s+This is a/.test(t) ? t : null;
    }, 20000, 100);
    check('the panel\'s input box asks the server; the answer streams in', !!partial);
    await runCommand(page, 'DeepSeek: Cancel');
    wv = await waitFor(async () => { const t = await webviewText(page); return /Cancelled\./.test(t) ? t : null; }, 15000);
    const last = (wv || await webviewText(page)).split('Tell me a long story').pop();
    check('"DeepSeek: Cancel" stops the streaming answer', !!wv && !/long story about Fibonacci\s*\n/.test(last.split('DeepSeek').pop() || ''),
      JSON.stringify(last.slice(0, 300)));
    await shot(page, 'cancelled.debug.png');
    await fakeConfig({ ms_per_output_token: 0 });

    // 9. A wrong deepseek.serverPath: the server is restarted, and the message says what to do.
    const machine = path.join(RUN, 'user', 'Machine', 'settings.json');
    const saved = fs.readFileSync(machine, 'utf8');
    fs.writeFileSync(machine, JSON.stringify({ 'deepseek.serverPath': '/nonexistent/deepseek-ls' }, null, 2));
    const toast = await waitFor(async () => {
      const t = await page.locator('.notifications-toasts').innerText().catch(() => '');
      return /not an executable file/.test(t) ? t : null;
    }, 20000);
    st = await waitFor(async () => { const x = await statusItem(page); return x.icons.includes('error') ? x : null; }, 5000) || await statusItem(page);
    check('a wrong serverPath gives a clear message with actions, and an error status',
      !!toast && /Open Settings/.test(toast) && /Retry/.test(toast) && st.icons.includes('error'), JSON.stringify({ toast, st }));
    await page.waitForTimeout(800);
    await shot(page, 'not-installed.png');
    fs.writeFileSync(machine, saved);
    st = await waitFor(async () => { const x = await statusItem(page); return x.icons.includes('sparkle') ? x : null; }, 30000);
    check('restoring serverPath restarts the server', !!st, JSON.stringify(await statusItem(page)));

    // 10. deepseek/definitions with the REAL deepseek-ls: its parser is off (e2e.sh sets
    // deepseek.context.definitions: false), so the definition of `area` (shapes.ts, never opened)
    // can reach a FIM prompt only through the extension's answer from VS Code's TypeScript.
    // The user types as soon as main.ts is open; the first FIM prompt is recorded (reported),
    // then, once the extension answered with shapes.ts, a later prompt must carry the definition.
    const AREA_DEF = 'export function area(w: number, h: number): number { return w * h; }';
    // the extension's trace of deepseek/definitions for main.ts: [{at, id, answer?}] (ids are UUIDs)
    const defsSeen = () => {
      const asks = new Map();
      for (const entry of clientLog().split(/\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[)/)) {
        const m = /^(\S+ \S+) \[trace\] (Received request|Sending response) 'deepseek\/definitions - \(([^)]*)\)'/.exec(entry);
        if (!m) continue;
        if (m[2] === 'Received request' && /"uri": "[^"]*\/main\.ts"/.test(entry)) asks.set(m[3], { at: m[1].slice(11), id: m[3] });
        else if (asks.has(m[3])) asks.get(m[3]).found = entry.includes('shapes.ts');
      }
      const list = [...asks.values()];
      return { asked: list.length, found: list.filter((a) => a.found).length, asks: list.map(({ at, found }) => ({ at, found })) };
    };
    const seq0 = Math.max(0, ...(await fimRequests()).map((q) => q.seq));
    const defs0 = defsSeen();
    const tOpen = Date.now();
    await page.keyboard.press('Control+P');
    await page.keyboard.type('main.ts', { delay: 20 });
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'main.ts' }).first().waitFor({ timeout: 20000 });
    await page.keyboard.press('Enter');
    await page.waitForSelector('.editor-group-container.active .monaco-editor .view-lines', { timeout: 30000 });
    await page.click('.editor-group-container.active .monaco-editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('const b = ar', { delay: 60 });
    const firstFim = await waitFor(async () => (await fimRequests(seq0)).find((q) => q.prompt.includes('const b = ar')), 20000, 100);
    const firstAt = Date.now() - tOpen;
    check('real server: a FIM request for main.ts', !!firstFim);
    const answered = await waitFor(async () => { const d = defsSeen(); return d.found > defs0.found ? d : null; }, 60000, 250);
    const answeredAt = Date.now() - tOpen;
    check('real server: it asked deepseek/definitions and the extension answered with shapes.ts (VS Code\'s TypeScript)',
      !!answered, JSON.stringify(defsSeen()));
    const seq1 = Math.max(seq0, ...(await fimRequests(seq0)).map((q) => q.seq));
    await page.keyboard.type('ea(1, ', { delay: 60 });
    const laterFim = await waitFor(async () => (await fimRequests(seq1)).find((q) => q.prompt.includes('const b = area(1, ')), 20000, 100);
    const p = laterFim ? laterFim.prompt : '';
    check('real server: the FIM prompt carries the definition of area from shapes.ts, in its head',
      p.includes(AREA_DEF) && p.includes('shapes.ts') && p.indexOf(AREA_DEF) < p.indexOf("import { area } from './shapes';"),
      JSON.stringify(p.slice(0, 600)));
    const timeline = { firstFimMs: firstAt, firstFimHasDefinition: !!firstFim && firstFim.prompt.includes(AREA_DEF),
      answeredWithShapesMs: answeredAt, definitions: { before: defs0, after: defsSeen() } };
    log(`definitions timeline (real server): ${JSON.stringify(timeline)}`);
    fs.writeFileSync(path.join(RUN, 'definitions-real.json'), JSON.stringify({ ...timeline, firstPrompt: firstFim && firstFim.prompt, laterPrompt: p }, null, 2));
    await page.keyboard.press('Escape');
    await runCommand(page, 'File: Revert File');
    await runCommand(page, 'View: Close All Editors');

    // 11. deepseek/definitions: a stand-in server (tests/editors/stub_deepseek.py) asks when main.ts
    // opens; the extension answers with VS Code's definition providers (built-in TypeScript).
    const answerFile = path.join(RUN, 'definitions.json');
    const mainLine = 'const s = "面积😀"; const a = area(2, 3);';
    const shapesLine = '/* 形状 😀 */ export function area(w: number, h: number): number { return w * h; }';
    const positions = [
      { line: 1, character: mainLine.indexOf('area(') + 1 }, // JS string indices are UTF-16 code units
      { line: 1, character: mainLine.indexOf('面') },          // inside a string: no definition
    ];
    fs.writeFileSync(machine, JSON.stringify({
      'deepseek.serverPath': process.env.E2E_STUB_SERVER,
      'deepseek.serverArgs': ['--ask-positions', JSON.stringify(positions), '--ask-suffix', 'main.ts', '--answer-file', answerFile,
        '--ask-until', 'shapes.ts'],
    }, null, 2));
    await waitFor(async () => { const x = await statusItem(page); return x.icons.includes('sparkle') ? x : null; }, 30000);
    await page.keyboard.press('Control+P');
    await page.keyboard.type('main.ts', { delay: 20 });
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'main.ts' }).first().waitFor({ timeout: 20000 });
    await page.keyboard.press('Enter');
    const got = await waitFor(async () => {
      try {
        const a = JSON.parse(fs.readFileSync(answerFile, 'utf8'));
        return JSON.stringify(a.answer).includes('shapes.ts') ? a : null;
      } catch { return null; }
    }, 60000, 500);
    log(`definitions answer: ${JSON.stringify(got)}`);
    check('the extension announced deepseekDefinitions', got?.initializationOptions?.deepseekDefinitions === true);
    const first = got?.answer?.[0]?.[0];
    const where = first && (first.targetSelectionRange || first.range);
    check('deepseek/definitions: the definition of area in shapes.ts, UTF-16 columns after the emoji',
      !!first && /shapes\.ts$/.test(first.targetUri || first.uri)
        && where.start.line === 0 && where.start.character === shapesLine.indexOf('area'),
      JSON.stringify(first));
    check('deepseek/definitions: null where there is nothing to find, parallel to the positions',
      got?.answer?.length === 2 && got.answer[1] === null, JSON.stringify(got?.answer));
    await shot(page, 'definitions.debug.png');
    fs.writeFileSync(machine, saved);
  } catch (err) {
    check('no exception', false, String(err && err.stack || err).slice(0, 1500));
    await shot(page, 'failure.debug.png').catch(() => undefined);
  } finally {
    await browser.close();
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`e2e: ${results.length - failed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error('FAIL', e); process.exit(2); });
