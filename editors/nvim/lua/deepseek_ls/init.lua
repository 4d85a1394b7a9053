-- deepseek-ls for Neovim: AI ghost text and chat from the deepseek-ls
-- language server.  require("deepseek_ls").setup{...}
local config = require('deepseek_ls.config')
local util = require('deepseek_ls.util')

local api = vim.api
local M = {}

M.did_setup = false

--- The server command: opts.cmd, else `deepseek-ls` on $PATH, else `python3 -m deepseek_ls`.
function M.resolve_cmd(opts)
  opts = opts or config.options
  if opts.cmd then
    return type(opts.cmd) == 'string' and { opts.cmd } or opts.cmd
  end
  if vim.fn.executable('deepseek-ls') == 1 then
    return { 'deepseek-ls' }
  end
  local py = vim.g.python3_host_prog or 'python3'
  return { vim.fn.expand(py), '-m', 'deepseek_ls' }
end

--- What to do when the server cannot be started: one message (and, second, the fix alone),
--- or nil when cmd looks runnable.
--- Checks that the executable exists and, for the `python -m deepseek_ls` fallback, that
--- this Python has the package (a quick import, only when deepseek-ls is not on $PATH).
function M.cmd_problem(cmd, opts)
  opts = opts or config.options
  local fix = 'Install it (from a clone: pip install ./deepseek-ls, or pipx install ./deepseek-ls) '
    .. 'and start Neovim where `deepseek-ls` is on $PATH (e.g. with the venv activated), '
    .. "or give its full path: setup({ cmd = { '/path/to/.venv/bin/deepseek-ls' } })."
  local exe = cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    if opts.cmd then
      return ('DeepSeek: cannot start the server: `%s` (setup cmd) is not an executable. %s'):format(exe, fix), fix
    end
    return 'DeepSeek: cannot start the server: `deepseek-ls` is not on $PATH and there is no '
      .. ('`%s` to run `-m deepseek_ls` with. %s'):format(exe, fix), fix
  end
  if not opts.cmd and cmd[2] == '-m' then
    local out = vim.fn.system({ exe, '-c', 'import deepseek_ls' })
    if vim.v.shell_error ~= 0 then
      return ('DeepSeek: cannot start the server: `deepseek-ls` is not on $PATH, and `%s` has no '
        .. 'deepseek_ls package (%s). %s'):format(exe, vim.trim(out):match('[^\n]*$') or '', fix), fix
    end
  end
  return nil
end

local function env(opts)
  local e = vim.deepcopy(opts.cmd_env or {})
  if opts.api_key then
    e.DEEPSEEK_API_KEY = opts.api_key
  end
  if opts.base_url then
    e.DEEPSEEK_BASE_URL = opts.base_url
  end
  return next(e) and e or nil
end

local function section(settings)
  if settings == nil or (type(settings) == 'table' and vim.tbl_isempty(settings)) then
    return vim.empty_dict()
  end
  return settings
end

--- workspace/configuration: answer from the client's settings (section `deepseek`).
local function on_configuration(_, params, ctx)
  local client = ctx and vim.lsp.get_client_by_id(ctx.client_id)
  local settings = (client and client.settings) or { deepseek = section(config.options.settings) }
  local res = {}
  for i, item in ipairs(params and params.items or {}) do
    local v
    if not item.section or item.section == '' then
      v = settings
    else
      v = vim.tbl_get(settings, unpack(vim.split(item.section, '.', { plain = true })))
    end
    if v == nil then
      v = vim.NIL
    end
    res[i] = v
  end
  return res
end

local function on_attach(client, bufnr)
  local native = require('deepseek_ls.native')
  if config.options.ghost_text.enabled then
    if native.active() then
      native.attach(client, bufnr)
    else
      require('deepseek_ls.ghost').attach(client, bufnr)
    end
    require('deepseek_ls.keymaps').attach(bufnr)
  end
  if type(config.options.on_attach) == 'function' then
    config.options.on_attach(client, bufnr)
  end
end

--- The LSP client config (vim.lsp.config / vim.lsp.start).
function M.lsp_config(opts)
  opts = opts or config.options
  local settings = section(opts.settings)
  local cmd = M.resolve_cmd(opts)
  local native = require('deepseek_ls.native')
  return {
    name = util.name,
    -- with the built-in renderer (0.12+), an RPC client that also reports shown suggestions
    cmd = native.active() and native.rpc_cmd(cmd) or cmd,
    cmd_env = env(opts),
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    settings = { deepseek = settings },
    -- deepseekClient: the server's no-key messages then name setup({ api_key = ... });
    -- deepseekSources: api_key / base_url from setup() reach the server as DEEPSEEK_API_KEY /
    -- DEEPSEEK_BASE_URL, and its messages then name the setup() option instead of the variable
    -- deepseekDefinitions: this client answers deepseek/definitions (definitions.lua)
    init_options = {
      deepseek = settings,
      deepseekClient = 'nvim',
      deepseekSources = { apiKey = opts.api_key and 'setup' or 'env', baseUrl = opts.base_url and 'setup' or 'env' },
      deepseekDefinitions = true,
    },
    capabilities = {
      textDocument = { inlineCompletion = { dynamicRegistration = false } },
      workspace = { configuration = true },
      window = { workDoneProgress = true },
    },
    -- one server for every buffer (its cache and session cost are global)
    reuse_client = function(client, conf)
      return client.name == conf.name
    end,
    handlers = {
      ['deepseek/status'] = function(_, params)
        require('deepseek_ls.status').update(params)
      end,
      ['deepseek/chatStream'] = function(_, params)
        require('deepseek_ls.chat').on_stream(params)
      end,
      ['workspace/configuration'] = on_configuration,
      ['deepseek/definitions'] = function(err, params, ctx)
        return require('deepseek_ls.definitions').handler(err, params, ctx)
      end,
      ['window/showMessage'] = function(err, params, ctx)
        return require('deepseek_ls.notify').on_show_message(err, params, ctx)
      end,
    },
    on_init = function()
      M.initialized = true
    end,
    on_attach = on_attach,
    on_exit = function(code, signal)
      if code and code ~= 0 and not M.initialized then
        -- the server died before it answered: say why it could not start
        local problem = M.cmd_problem(M.resolve_cmd(opts), opts)
        require('deepseek_ls.notify').show(problem or ('DeepSeek: the server `%s` exited with code %d before it started; '
          .. 'run it in a shell to see why, and :checkhealth deepseek_ls'):format(table.concat(M.resolve_cmd(opts), ' '), code),
          vim.log.levels.ERROR)
      end
      vim.schedule(function()
        require('deepseek_ls.status').update({ state = 'stopped' })
        require('deepseek_ls.chat').on_server_exit()
      end)
    end,
  }
end

local function can_attach(bufnr, opts)
  if not api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return false
  end
  if opts.filetypes and not vim.tbl_contains(opts.filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  return api.nvim_buf_get_name(bufnr) ~= ''
end

--- Neovim 0.10: start/attach on FileType ourselves.
local function start_010(bufnr, opts)
  if not can_attach(bufnr, opts) then
    return
  end
  local cfg = M.lsp_config(opts)
  local fname = api.nvim_buf_get_name(bufnr)
  local root = vim.fs.root and vim.fs.root(fname, opts.root_markers or {}) or nil
  cfg.root_dir = root or vim.fn.getcwd()
  cfg.root_markers = nil
  cfg.filetypes = nil
  local reuse = cfg.reuse_client
  cfg.reuse_client = nil
  vim.lsp.start(cfg, { bufnr = bufnr, reuse_client = reuse })
end

--- The default DeepSeekGhostText highlight: Comment's colours, with a grey for
--- each mode Comment leaves uncoloured (the default colour scheme gives Comment
--- no terminal colour, so without 'termguicolors' ghost text would look like code).
function M.ghost_highlight()
  local ok, c = pcall(api.nvim_get_hl, 0, { name = 'Comment', link = false })
  c = ok and c or {}
  return {
    default = true,
    fg = c.fg or 0x808080,
    ctermfg = c.ctermfg or 8, -- 8 = DarkGray (bright black), in 16- and 256-colour terminals
    italic = c.italic,
    cterm = c.cterm,
  }
end

--- Generate doc/tags for :help deepseek_ls when it is missing or older than the help
--- file (plugin managers that load the plugin from a subdirectory do not).
function M.ensure_helptags()
  local source = debug.getinfo(1, 'S').source:gsub('^@', '')
  local doc = vim.fn.fnamemodify(source, ':p:h:h:h') .. '/doc'
  local txt, tags = doc .. '/deepseek_ls.txt', doc .. '/tags'
  if vim.fn.filereadable(txt) == 1 and vim.fn.getftime(tags) < vim.fn.getftime(txt)
      and vim.fn.filewritable(doc) == 2 then
    pcall(vim.cmd, 'silent! helptags ' .. vim.fn.fnameescape(doc))
  end
end

---@param opts? table see config.lua / :help deepseek_ls-setup
function M.setup(opts)
  local options = config.apply(opts)
  M.ensure_helptags()
  local problem = M.cmd_problem(M.resolve_cmd(options), options)
  M.start_problem = problem
  if problem then
    -- nothing to start: say what is missing once, instead of a failing server per buffer
    require('deepseek_ls.commands').create()
    require('deepseek_ls.notify').show(problem, vim.log.levels.ERROR)
    M.did_setup = true
    return
  end
  require('deepseek_ls.commands').create()
  local group = api.nvim_create_augroup('deepseek_ls', { clear = true })
  local function highlights()
    api.nvim_set_hl(0, 'DeepSeekGhostText', M.ghost_highlight())
  end
  highlights()
  api.nvim_create_autocmd('ColorScheme', { group = group, callback = highlights })
  api.nvim_create_autocmd('LspDetach', {
    group = group,
    callback = function(args)
      local client = args.data and vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == util.name then
        require('deepseek_ls.ghost').detach(args.buf)
      end
    end,
  })

  -- `_legacy_start` (undocumented, for tests): the Neovim 0.10 code path on 0.11+
  if vim.lsp.config and vim.lsp.enable and vim.fn.has('nvim-0.11') == 1 and not options._legacy_start then
    vim.lsp.config(util.name, M.lsp_config(options))
    vim.lsp.enable(util.name)
    if vim.v.vim_did_enter == 0 then
      -- setup() ran during startup: files already opened get attached too
      api.nvim_create_autocmd('VimEnter', {
        group = group,
        once = true,
        callback = function()
          pcall(vim.cmd, 'silent! doautoall nvim.lsp.enable FileType')
        end,
      })
    end
  else
    api.nvim_create_autocmd('FileType', {
      group = group,
      callback = function(args)
        start_010(args.buf, options)
      end,
    })
    for _, b in ipairs(api.nvim_list_bufs()) do
      if api.nvim_buf_is_loaded(b) and vim.bo[b].filetype ~= '' then
        start_010(b, options)
      end
    end
  end
  M.did_setup = true
end

--- Attach to the current buffer now (for buffers without a filetype).
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  if util.get_client(bufnr) then
    return
  end
  local opts = config.options
  if not can_attach(bufnr, { filetypes = nil }) then
    util.info('not a file buffer', vim.log.levels.WARN)
    return
  end
  if vim.fn.has('nvim-0.11') == 1 then
    local cfg = vim.deepcopy(vim.lsp.config[util.name] or M.lsp_config(opts))
    local fname = api.nvim_buf_get_name(bufnr)
    cfg.root_dir = vim.fs.root(fname, opts.root_markers or {}) or vim.fn.getcwd()
    local reuse = cfg.reuse_client
    vim.lsp.start(cfg, { bufnr = bufnr, reuse_client = reuse })
  else
    start_010(bufnr, { filetypes = nil, root_markers = opts.root_markers })
  end
end

--- Change settings of the `deepseek` section at run time (merged into the
--- current ones) and tell the running server (workspace/didChangeConfiguration).
function M.update_settings(settings)
  config.options.settings = vim.tbl_deep_extend('force', config.options.settings or {}, settings or {})
  local full = { deepseek = section(config.options.settings) }
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  for _, client in ipairs(get({ name = util.name })) do
    client.settings = full
    util.notify(client, 'workspace/didChangeConfiguration', { settings = full })
  end
  if vim.lsp.config and vim.fn.has('nvim-0.11') == 1 and not config.options._legacy_start then
    vim.lsp.config(util.name, { settings = full, init_options = { deepseek = full.deepseek, deepseekClient = 'nvim' } })
  end
end

--- Statusline component: "DeepSeek idle $0.0012 · hit 45%" ('' when not running).
function M.statusline(opts)
  return require('deepseek_ls.status').statusline(opts)
end

--- Last deepseek/status payload (nil until the server sent one).
function M.status()
  return require('deepseek_ls.status').data
end

function M.chat(message, opts)
  return require('deepseek_ls.chat').chat(message, opts)
end

function M.explain(opts)
  return require('deepseek_ls.chat').explain(opts)
end

function M.cancel()
  return require('deepseek_ls.chat').cancel()
end

--- Server-side toggle of automatic completion (deepseek.toggleAutoCompletion).
function M.toggle(enabled)
  local client = util.any_client()
  if not client then
    util.info('deepseek-ls is not running', vim.log.levels.WARN)
    return
  end
  local arg = enabled == nil and vim.empty_dict() or { enabled = enabled }
  util.execute(client, 'deepseek.toggleAutoCompletion', arg, function(err, result)
    vim.schedule(function()
      if err then
        util.info('toggle failed: ' .. tostring(err.message), vim.log.levels.WARN)
      else
        util.info('automatic completion ' .. ((result and result.enabled) and 'on' or 'off'))
      end
    end)
  end)
end

--- Print the session usage (deepseek.usage).
function M.usage()
  local client = util.any_client()
  if not client then
    util.info('deepseek-ls is not running', vim.log.levels.WARN)
    return
  end
  local status = require('deepseek_ls.status')
  util.execute(client, 'deepseek.usage', vim.empty_dict(), function(err, u)
    vim.schedule(function()
      if err or type(u) ~= 'table' then
        util.info('usage failed: ' .. tostring(err and err.message), vim.log.levels.WARN)
        return
      end
      util.info(string.format(
        'requests %d, prompt tokens %d hit / %d miss (hit rate %d%%), completion tokens %d, cost %s',
        u.requests or 0,
        u.promptHitTokens or 0,
        u.promptMissTokens or 0,
        status.pct(u.hitRate),
        u.completionTokens or 0,
        status.money(u.costUsd)
      ))
    end)
  end)
end

--- Rewrite the lines line1..line2 following an instruction (deepseek.rewriteSelection).
function M.rewrite(instruction, opts)
  opts = opts or {}
  local bufnr = api.nvim_get_current_buf()
  local client = util.get_client(bufnr)
  if not client then
    util.info('deepseek-ls is not attached to this buffer', vim.log.levels.WARN)
    return
  end
  if not instruction or instruction == '' then
    vim.ui.input({ prompt = 'Rewrite: ' }, function(input)
      if input and input ~= '' then
        M.rewrite(input, opts)
      end
    end)
    return
  end
  local range = require('deepseek_ls.chat').command_range(
    bufnr,
    opts.line1 or vim.fn.line('.'),
    opts.line2 or vim.fn.line('.'),
    util.offset_encoding(client)
  )
  util.execute(client, 'deepseek.rewriteSelection', {
    uri = vim.uri_from_bufnr(bufnr),
    range = range,
    instruction = instruction,
  }, function(err, result)
    vim.schedule(function()
      if err then
        util.info('rewrite failed: ' .. tostring(err.message), vim.log.levels.WARN)
      elseif not (result and result.applied) then
        util.info('rewrite was not applied', vim.log.levels.WARN)
      end
    end)
  end, bufnr)
end

return M
