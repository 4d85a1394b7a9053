/**
 * `deepseek/definitions` (server → client request, docs/PROTOCOL.md): where the
 * names at some positions of a document are defined, according to the
 * editor's definition providers (`vscode.executeDefinitionProvider`: every
 * language extension's, never deepseek-ls itself, which provides none). The
 * server puts those definitions in the context of its completion prompts;
 * clients without this request get its own parser instead.
 *
 *   params  `{textDocument: {uri}, positions: Position[]}` (UTF-16, as VS Code's columns)
 *   result  an array parallel to `positions`: `null`, or the `Location` /
 *           `LocationLink` list (LSP JSON, 0-based) the providers gave;
 *           `null` as a whole when the request cannot be answered at all.
 *
 * The providers run in parallel; after `deadlineMs` the answer goes with what
 * arrived by then (`null` for the rest). Errors never reach the server as
 * errors (it would only log them): a failed position is `null`.
 *
 * No `vscode` import: the conversion and the deadline are unit-tested with
 * plain objects (test/definitions.test.ts); client.ts passes the real lookup.
 */

export const DEFINITIONS_METHOD = 'deepseek/definitions';
export const DEFINITIONS_DEADLINE_MS = 1000;

export interface LspPosition { line: number; character: number }
export interface LspRange { start: LspPosition; end: LspPosition }
export interface LspLocation { uri: string; range: LspRange }
export interface LspLocationLink {
  targetUri: string;
  targetRange: LspRange;
  targetSelectionRange: LspRange;
  originSelectionRange?: LspRange;
}
export type LspDefinition = LspLocation | LspLocationLink;

export interface DefinitionsParams { textDocument: { uri: string }; positions: LspPosition[] }
export type DefinitionsResult = (LspDefinition[] | null)[] | null;

/** The shapes VS Code's Position / Range / Uri / Location / LocationLink have (structurally). */
export interface PositionLike { line: number; character: number }
export interface RangeLike { start: PositionLike; end: PositionLike }
export interface UriLike { toString(): string }
export interface LocationLike { uri: UriLike; range: RangeLike }
export interface LocationLinkLike {
  targetUri: UriLike;
  targetRange: RangeLike;
  targetSelectionRange?: RangeLike;
  originSelectionRange?: RangeLike;
}

/** What `vscode.executeDefinitionProvider` resolves to (arrays of either; undefined when none). */
export type ProviderAnswer = (LocationLike | LocationLinkLike)[] | LocationLike | undefined | null;

/** Looks up the definitions at one position (the editor's providers). */
export type LookUp = (uri: string, position: LspPosition) => PromiseLike<ProviderAnswer>;

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function position(p: PositionLike): LspPosition {
  return { line: p.line, character: p.character };
}

function range(r: RangeLike): LspRange {
  return { start: position(r.start), end: position(r.end) };
}

function isLink(d: LocationLike | LocationLinkLike): d is LocationLinkLike {
  return (d as LocationLinkLike).targetUri !== undefined;
}

/** One provider answer as LSP JSON (Location / LocationLink list); entries without a place are dropped. */
export function toLsp(answer: ProviderAnswer): LspDefinition[] {
  if (!answer) return [];
  const list = Array.isArray(answer) ? answer : [answer];
  const out: LspDefinition[] = [];
  for (const d of list) {
    if (!d || typeof d !== 'object') continue;
    if (isLink(d)) {
      if (!d.targetRange) continue;
      const link: LspLocationLink = {
        targetUri: d.targetUri.toString(),
        targetRange: range(d.targetRange),
        targetSelectionRange: range(d.targetSelectionRange ?? d.targetRange),
      };
      if (d.originSelectionRange) link.originSelectionRange = range(d.originSelectionRange);
      out.push(link);
    } else if (d.uri && d.range) {
      out.push({ uri: d.uri.toString(), range: range(d.range) });
    }
  }
  return out;
}

/** The params as the protocol says, or undefined. */
export function parseParams(params: unknown): DefinitionsParams | undefined {
  if (!params || typeof params !== 'object') return undefined;
  const { textDocument, positions } = params as { textDocument?: { uri?: unknown }; positions?: unknown };
  if (!textDocument || typeof textDocument.uri !== 'string' || !Array.isArray(positions)) return undefined;
  return { textDocument: { uri: textDocument.uri }, positions: positions as LspPosition[] };
}

/**
 * The answer to a `deepseek/definitions` request: every position looked up in
 * parallel, `null` where nothing was found, failed or came after the deadline.
 * `cancelled` (the server gave up on the request) answers at once with what is there.
 */
export async function answerDefinitions(params: unknown, lookUp: LookUp,
  deadlineMs = DEFINITIONS_DEADLINE_MS, cancelled?: { onCancellationRequested(listener: () => void): unknown }):
  Promise<DefinitionsResult> {
  const parsed = parseParams(params);
  if (!parsed) return null;
  const { uri } = parsed.textDocument;
  const found: (LspDefinition[] | null)[] = parsed.positions.map(() => null);
  const lookups = parsed.positions.map(async (p, i) => {
    if (!p || !isNonNegativeInt(p.line) || !isNonNegativeInt(p.character)) return;
    try {
      const defs = toLsp(await lookUp(uri, { line: p.line, character: p.character }));
      if (defs.length) found[i] = defs;
    } catch {
      // a provider failed: nothing for this position
    }
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
    cancelled?.onCancellationRequested(() => resolve());
  });
  await Promise.race([Promise.all(lookups).then(() => undefined), stop]);
  clearTimeout(timer);
  return found.slice();
}
