-- :checkhealth deepseek_ls
local M = {}

local health = vim.health
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local err = health.error or health.report_error
local info = health.info or health.report_info

local DEFAULT_BASE_URL = 'https://api.deepseek.com'

local function run(cmd, env, timeout)
  if not vim.system then
    local out = vim.fn.system(cmd)
    return { code = vim.v.shell_error, stdout = out, stderr = '' }
  end
  local okc, proc = pcall(vim.system, cmd, { env = env, text = true, timeout = timeout or 15000 })
  if not okc then
    return { code = -1, stdout = '', stderr = tostring(proc) }
  end
  return proc:wait()
end

local function lines(s)
  local out = {}
  for l in vim.gsplit(s or '', '\n', { plain = true }) do
    if l ~= '' then
      out[#out + 1] = l
    end
  end
  return out
end

local function mask(key)
  if #key <= 8 then
    return '****'
  end
  return key:sub(1, 3) .. '…' .. key:sub(-4)
end

--- API key and base URL as the server will see them (env < settings).
local function effective(opts)
  local env = opts.cmd_env or {}
  local key = opts.api_key or env.DEEPSEEK_API_KEY or os.getenv('DEEPSEEK_API_KEY')
  local url = opts.base_url or env.DEEPSEEK_BASE_URL or os.getenv('DEEPSEEK_BASE_URL')
  local s = opts.settings or {}
  key = s.apiKey or key
  url = s.baseUrl or url
  return key, url or DEFAULT_BASE_URL
end

local function env_of(opts, key, url)
  local e = vim.deepcopy(opts.cmd_env or {})
  if key then
    e.DEEPSEEK_API_KEY = key
  end
  if url then
    e.DEEPSEEK_BASE_URL = url
  end
  return e
end

--- GET {url}/models with curl (or python3) -> ids, or nil + reason.
local function list_models(url, key)
  url = url:gsub('/+$', '') .. '/models'
  local cmd
  if vim.fn.executable('curl') == 1 then
    cmd = { 'curl', '-sS', '-m', '10', '-w', '\n%{http_code}', '-H', 'Authorization: Bearer ' .. key, url }
  elseif vim.fn.executable('python3') == 1 then
    cmd = {
      'python3',
      '-c',
      [[
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
try:
    r = urllib.request.urlopen(req, timeout=10); print(r.read().decode()); print(r.status)
except urllib.error.HTTPError as e:
    print(e.read().decode()); print(e.code)
]],
      url,
      key,
    }
  else
    return nil, 'neither curl nor python3 found to call the API'
  end
  local r = run(cmd, nil, 15000)
  if r.code ~= 0 then
    return nil, 'cannot reach ' .. url .. ': ' .. vim.trim((r.stderr or '') .. (r.stdout or ''))
  end
  local out = lines(r.stdout)
  local status = tonumber(out[#out])
  local body = table.concat(out, '\n', 1, #out - 1)
  if status ~= 200 then
    return nil, string.format('%s answered HTTP %s: %s', url, tostring(status), body:sub(1, 200))
  end
  local okj, data = pcall(vim.json.decode, body)
  if not okj or type(data) ~= 'table' or type(data.data) ~= 'table' then
    return nil, 'unexpected answer from ' .. url
  end
  local ids = {}
  for _, m in ipairs(data.data) do
    ids[#ids + 1] = m.id
  end
  return ids
end

--- Why the key cannot be an API key (as the server says it, never quoting the key), or nil.
--- An API key is printable ASCII without spaces.
local function key_problem(key)
  for i = 1, #key do
    local b = key:byte(i)
    if not (b > 32 and b < 127) then
      local what
      if b == 32 then
        what = 'a space'
      elseif b == 9 then
        what = 'a tab'
      elseif b == 10 or b == 13 then
        what = 'a line break'
      elseif b < 32 or b == 127 then
        what = string.format('a control character (U+%04X)', b)
      else
        what = 'a non-ASCII character'
      end
      return string.format('contains %s at byte %d of %d', what, i, #key)
    end
  end
  return nil
end

--- "1 request", "2 requests".
local function plural(n, word)
  return string.format('%d %s%s', n, word, n == 1 and '' or 's')
end
M.plural = plural
M.key_problem = key_problem

local KEY_ADVICE = {
  "setup({ api_key = ... }) (e.g. api_key = os.getenv('DEEPSEEK_API_KEY')), or export "
    .. 'DEEPSEEK_API_KEY=sk-... before starting Neovim (create a key at https://platform.deepseek.com/api_keys)',
}

--- The key and endpoint sections: what can be known without the server.
local function report_key_and_endpoint(opts, key, url)
  if key and key ~= '' then
    local why = key_problem(key)
    local from = opts.api_key and 'setup({ api_key })' or (opts.settings or {}).apiKey and 'settings.apiKey'
      or 'DEEPSEEK_API_KEY'
    if why then
      err(string.format('API key (from %s) %s: an API key is ASCII letters, digits and dashes only; '
        .. 'nothing is sent to DeepSeek until it is fixed', from, why), {
        'Copy the key again from https://platform.deepseek.com/api_keys (without any note after it) into ' .. from .. '.',
      })
    else
      ok('API key is set (' .. mask(key) .. ', from ' .. from .. ')')
    end
  else
    err('no API key: nothing is sent to DeepSeek until one is set', KEY_ADVICE)
  end
  local url_from = opts.base_url and 'setup({ base_url })' or (opts.settings or {}).baseUrl and 'settings.baseUrl'
    or (os.getenv('DEEPSEEK_BASE_URL') and 'DEEPSEEK_BASE_URL') or 'the default'
  info('endpoint: ' .. url .. ' (' .. url_from .. ')')
end

--- The running client and its last status.
local function report_client(util)
  start('deepseek_ls: running client')
  local client = util.get_client(vim.api.nvim_get_current_buf()) or util.get_client(nil)
  if not client then
    info('no deepseek_ls client is running (it starts when a file buffer opens)')
    return
  end
  ok(string.format('client %d running, position encoding %s', client.id, tostring(client.offset_encoding)))
  local caps = client.server_capabilities or {}
  if caps.inlineCompletionProvider then
    ok('server offers textDocument/inlineCompletion')
  else
    warn('server does not advertise inlineCompletionProvider')
  end
  local st = require('deepseek_ls.status').data
  if st then
    local line = 'state: ' .. tostring(st.state) .. (st.message and (' (' .. st.message .. ')') or '')
    if st.state == 'error' then
      err(line)
    else
      ok(line)
    end
    if st.model then
      info('model: ' .. st.model)
    end
    local u = st.usage
    if type(u) == 'table' then
      local status = require('deepseek_ls.status')
      info(string.format('session: %s, %s, cache hit rate %d%%', plural(u.requests or 0, 'request'),
        status.money(u.costUsd), status.pct(u.hitRate)))
    end
    if type(st.todayNote) == 'string' then
      warn(st.todayNote)
    end
  else
    info('no deepseek/status received yet')
  end
end

function M.check()
  local ds = require('deepseek_ls')
  local config = require('deepseek_ls.config')
  local util = require('deepseek_ls.util')
  local opts = config.options

  start('deepseek_ls: Neovim')
  local v = vim.version()
  local vs = string.format('%d.%d.%d', v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.10') == 1 then
    ok('Neovim ' .. vs)
  else
    err('Neovim ' .. vs .. ': 0.10 or newer is needed')
  end
  if require('deepseek_ls.native').active() then
    info('ghost text: built-in vim.lsp.inline_completion (Neovim 0.12+)')
  else
    info('ghost text: plugin renderer (extmarks)')
  end
  if ds.did_setup then
    ok('require("deepseek_ls").setup() was called')
  else
    warn('require("deepseek_ls").setup() was not called: the server does not start', {
      'Add require("deepseek_ls").setup({}) to your config (or set vim.g.deepseek_ls = {}).',
    })
  end

  start('deepseek_ls: server')
  local cmd = ds.resolve_cmd(opts)
  local exe = cmd[1]
  local key, url = effective(opts)
  local missing, fix = ds.cmd_problem(cmd, opts)
  if missing then
    -- the same words and fix as setup() gives; then what can be known without the server
    err((missing:gsub('^DeepSeek: ', '')), { fix })
    report_key_and_endpoint(opts, key, url)
    info('`deepseek-ls doctor` skipped: the server is not installed')
    report_client(util)
    return
  end
  ok('server command: ' .. table.concat(cmd, ' ') .. ' (' .. vim.fn.exepath(exe) .. ')')
  local env = env_of(opts, key, url)
  local ver = run(vim.list_extend(vim.deepcopy(cmd), { '--version' }), env, 10000)
  if ver.code == 0 then
    ok('version: ' .. vim.trim(ver.stdout ~= '' and ver.stdout or ver.stderr))
  else
    err('`' .. table.concat(cmd, ' ') .. ' --version` failed: ' .. vim.trim((ver.stderr or '') .. (ver.stdout or '')))
    return
  end

  report_key_and_endpoint(opts, key, url)

  -- prefer the server's own diagnosis
  local help = run(vim.list_extend(vim.deepcopy(cmd), { '--help' }), env, 10000)
  if help.code == 0 and (help.stdout or ''):find('doctor', 1, true) then
    local dcmd = vim.list_extend(vim.deepcopy(cmd), { 'doctor', '--json' })
    -- name what this user set: setup()'s api_key / base_url reach the server as environment variables
    if opts.api_key then
      vim.list_extend(dcmd, { '--key-named', "api_key in setup()" })
    end
    if opts.base_url then
      vim.list_extend(dcmd, { '--url-named', "base_url in setup()" })
    end
    local s = opts.settings or {}
    local cm = vim.tbl_get(s, 'completion', 'model') or s['completion.model']
    local chm = vim.tbl_get(s, 'chat', 'model') or s['chat.model']
    if type(cm) == 'string' then
      vim.list_extend(dcmd, { '--model', cm })
    end
    if type(chm) == 'string' then
      vim.list_extend(dcmd, { '--chat-model', chm })
    end
    local r = run(dcmd, env, 60000)
    local okj, report = pcall(vim.json.decode, r.stdout or '')
    if okj and type(report) == 'table' and type(report.checks) == 'table' then
      info('`deepseek-ls doctor` (it makes one tiny FIM request):')
      for _, c in ipairs(report.checks) do
        local line = string.format('%s: %s', tostring(c.name), tostring(c.detail))
        local advice = (type(c.fix) == 'string' and c.fix ~= '') and { c.fix } or nil
        if c.status == 'ok' then
          ok(line)
        elseif c.status == 'warn' then
          warn(line, advice)
        elseif c.status == 'fail' then
          err(line, advice)
        elseif tostring(c.detail):find('^skipped') then
          info(line)
        else
          info(line .. ' (skipped)')
        end
      end
    else
      local out = lines((r.stdout or '') .. '\n' .. (r.stderr or ''))
      if r.code == 0 then
        ok('`deepseek-ls doctor` passed')
      else
        err('`deepseek-ls doctor` failed (exit ' .. tostring(r.code) .. ')')
      end
      for _, l in ipairs(out) do
        info(l)
      end
    end
  elseif key and key ~= '' then
    local ids, why = list_models(url, key)
    if ids then
      ok('endpoint reachable; models: ' .. table.concat(ids, ', '))
    else
      err(why)
    end
  end

  report_client(util)
end

return M
