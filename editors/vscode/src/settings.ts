/**
 * Mirroring of the `deepseek` settings section to the server (pure: no `vscode` import).
 *
 * VS Code hands out the section as nested objects (`{completion: {debounceMs: 120}}`),
 * which the server accepts as they are. Keys that only the extension reads
 * (how to start the server, LSP tracing) are not sent.
 */

export const SECTION = 'deepseek';

/** Settings the extension reads itself; never mirrored to the server. */
export const CLIENT_ONLY_KEYS: readonly string[] = ['serverPath', 'pythonPath', 'serverArgs', 'trace'];

/** Settings whose change needs a new server process (not just a configuration change). */
export const RESTART_KEYS: readonly string[] = ['serverPath', 'pythonPath', 'serverArgs'];

/** A deep copy of a JSON-like value: drops functions and undefined, keeps plain data. */
export function toPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' ? undefined : value;
  }
  if (Array.isArray(value)) return value.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const plain = toPlain(v);
    if (plain !== undefined) out[k] = plain;
  }
  return out;
}

/**
 * The settings to send to the server from the `deepseek` section as VS Code
 * returns it (a WorkspaceConfiguration or a plain object): a plain nested
 * object without the client-only keys.
 */
export function serverSettings(section: unknown): Record<string, unknown> {
  const plain = toPlain(section);
  if (!plain || typeof plain !== 'object' || Array.isArray(plain)) return {};
  const out = plain as Record<string, unknown>;
  for (const key of CLIENT_ONLY_KEYS) delete out[key];
  return out;
}

/**
 * Apply {@link serverSettings} to the answer of a `workspace/configuration`
 * request: items asking for the whole `deepseek` section get the filtered
 * section; other items are returned unchanged.
 */
export function filterConfigurationResult(items: ReadonlyArray<{ section?: string }>, result: unknown[]): unknown[] {
  return result.map((value, i) => (items[i]?.section === SECTION ? serverSettings(value) : value));
}
