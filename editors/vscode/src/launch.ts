/**
 * How to start the server (pure apart from the injected file system and process probes).
 *
 * Order: `deepseek.serverPath`, else `deepseek.pythonPath` (`python -m deepseek_ls`),
 * else `deepseek-ls` found on PATH. Every failure says what to do.
 */
import * as path from 'path';

export const SERVER_EXECUTABLE = 'deepseek-ls';
export const SERVER_MODULE = 'deepseek_ls';

export interface LaunchSettings {
  serverPath?: string;
  pythonPath?: string;
  serverArgs?: string[];
}

export interface LaunchProbe {
  /** The file exists and may be executed. */
  isExecutable(file: string): boolean;
  /**
   * Is this Python 3.11 or newer, and can it import the server package?
   * `error` is its stderr when not.
   */
  canImport(python: string, module: string): Promise<{ ok: boolean; error?: string }>;
  env: Record<string, string | undefined>;
  platform: string;
  home: string;
  workspaceFolder?: string;
}

export type Launch =
  | { ok: true; command: string; args: string[]; description: string }
  | { ok: false; message: string; detail?: string };

/** Expand `~` and `${workspaceFolder}`/`${userHome}` in a configured path. */
export function expandPath(value: string, home: string, workspaceFolder?: string): string {
  let out = value.trim();
  if (out === '~' || out.startsWith('~/')) out = home + out.slice(1);
  out = out.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  return out;
}

/** Find an executable on a PATH string, like `which`. */
export function which(name: string, probe: Pick<LaunchProbe, 'isExecutable' | 'env' | 'platform'>): string | undefined {
  const win = probe.platform === 'win32';
  const pathVar = probe.env.PATH ?? probe.env.Path ?? '';
  const exts = win ? (probe.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').filter(Boolean) : [''];
  for (const dir of pathVar.split(win ? ';' : ':')) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (probe.isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

// Plain text: VS Code notifications do not render Markdown code spans.
const INSTALL_HINT =
  'Install the deepseek-ls Python package from your clone of its repository (Python 3.11+; "pipx install ." or "pip install ." there), ' +
  'then set deepseek.serverPath to the deepseek-ls executable, or deepseek.pythonPath to that Python.';

/** Decide the command line of the server, or explain why it cannot be started. */
export async function resolveLaunch(settings: LaunchSettings, probe: LaunchProbe): Promise<Launch> {
  const extra = (settings.serverArgs ?? []).filter((a) => typeof a === 'string');
  const serverPath = settings.serverPath?.trim();
  if (serverPath) {
    const command = expandPath(serverPath, probe.home, probe.workspaceFolder);
    if (!probe.isExecutable(command)) {
      return {
        ok: false,
        message: `DeepSeek: deepseek.serverPath is "${command}", which is not an executable file.`,
        detail: `Fix the setting or clear it. ${INSTALL_HINT}`,
      };
    }
    return { ok: true, command, args: extra, description: command };
  }
  const pythonPath = settings.pythonPath?.trim();
  if (pythonPath) {
    const python = expandPath(pythonPath, probe.home, probe.workspaceFolder);
    const found = python.includes('/') || python.includes('\\') ? (probe.isExecutable(python) ? python : undefined)
      : which(python, probe);
    if (!found) {
      return {
        ok: false,
        message: `DeepSeek: deepseek.pythonPath is "${python}", which is not an executable file.`,
        detail: `Point it at a Python interpreter that has deepseek-ls installed. ${INSTALL_HINT}`,
      };
    }
    const imported = await probe.canImport(found, SERVER_MODULE);
    if (!imported.ok) {
      return {
        ok: false,
        message: `DeepSeek: "${found}" cannot import ${SERVER_MODULE}. Install the server into it: ` +
          `"${found} -m pip install /path/to/your/clone/of/deepseek-ls".`,
        detail: imported.error,
      };
    }
    // -P (Python 3.11+): do not put the working directory (the workspace) on sys.path,
    // so a folder in the workspace cannot shadow the server's modules.
    return { ok: true, command: found, args: ['-P', '-m', SERVER_MODULE, ...extra], description: `${found} -P -m ${SERVER_MODULE}` };
  }
  const onPath = which(SERVER_EXECUTABLE, probe);
  if (onPath) return { ok: true, command: onPath, args: extra, description: onPath };
  return {
    ok: false,
    message: `DeepSeek: the language server "${SERVER_EXECUTABLE}" was not found on PATH.`,
    detail: INSTALL_HINT,
  };
}
