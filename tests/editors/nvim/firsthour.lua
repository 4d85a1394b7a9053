-- Checks for a new user's first hour, run by tests/editors/test_nvim_firsthour.py:
--   DSLS_CASE=... nvim --headless -u NONE -i NONE -n -c 'luafile firsthour.lua'
-- Writes {checks = [{name, ok, got}], ...} as JSON to $DSLS_RESULT. The steps run in a
-- coroutine that yields to the event loop (wait / sleep), so typed keys are processed
-- the way they are for a user (vim.wait does not process typeahead).
local case = os.getenv('DSLS_CASE')
local result = { checks = {} }
local function check(name, ok, got)
  table.insert(result.checks, { name = name, ok = not not ok, got = got ~= nil and vim.inspect(got) or nil })
end
local function finish()
  local f = assert(io.open(os.getenv('DSLS_RESULT'), 'w'))
  f:write(vim.json.encode(result))
  f:close()
  vim.cmd('qall!')
end

-- the plugin the way lazy.nvim's `dir = '.../editors/nvim'` (or a git checkout plus
-- rtp:append(plugin.dir .. '/editors/nvim')) loads it: on 'runtimepath', plugin/ sourced
local plugin = os.getenv('DSLS_PLUGIN_DIR')
vim.opt.runtimepath:append(plugin)
vim.cmd('runtime plugin/deepseek_ls.lua')

local notes = {}
vim.notify = function(msg, level)
  table.insert(notes, { msg = msg, level = level, mode = vim.api.nvim_get_mode().mode })
end

--- :checkhealth deepseek_ls as text.
local function checkhealth()
  vim.cmd('checkhealth deepseek_ls')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  vim.cmd('bwipeout!')
  return text
end

local co
--- Let the event loop (and typeahead) run until cond() or timeout_ms.
local function wait(timeout_ms, cond)
  local deadline = vim.uv.now() + timeout_ms
  while not (cond and cond()) and vim.uv.now() < deadline do
    vim.defer_fn(function() coroutine.resume(co) end, 20)
    coroutine.yield()
  end
end
local function type_keys(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'nt', false)
  wait(200)
end

local function steps()
  if case == 'help' then
    require('deepseek_ls').setup({ cmd = vim.json.decode(os.getenv('DSLS_CMD')) })
    local helped, help_err = pcall(vim.cmd, 'help deepseek_ls')
    check(':help deepseek_ls opens', helped, help_err)
    check('the help buffer is the plugin\'s', vim.bo.buftype == 'help'
      and vim.api.nvim_buf_get_name(0):find('deepseek_ls.txt', 1, true), vim.api.nvim_buf_get_name(0))
    local tag_ok = pcall(vim.cmd, 'help deepseek_ls-api_key')
    check(':help deepseek_ls-api_key opens', tag_ok)
  elseif case == 'highlight' then
    vim.o.termguicolors = os.getenv('DSLS_TGC') == '1'
    require('deepseek_ls').setup({ cmd = vim.json.decode(os.getenv('DSLS_CMD')) })
    local hl = vim.api.nvim_get_hl(0, { name = 'DeepSeekGhostText', link = false })
    local comment = vim.api.nvim_get_hl(0, { name = 'Comment', link = false })
    result.hl, result.comment = hl, comment
    check('ghost text has a terminal colour', hl.ctermfg ~= nil, hl)
    check('ghost text has a GUI colour', hl.fg ~= nil, hl)
    check('the terminal colour differs from Normal text', hl.ctermfg ~= (vim.api.nvim_get_hl(0, { name = 'Normal' }).ctermfg), hl)
    -- a user's own definition wins, also after a colour scheme change
    vim.api.nvim_set_hl(0, 'DeepSeekGhostText', { ctermfg = 243, fg = 0x6c7086 })
    vim.cmd('doautocmd ColorScheme')
    local mine = vim.api.nvim_get_hl(0, { name = 'DeepSeekGhostText', link = false })
    check('a user definition is kept', mine.ctermfg == 243 and mine.fg == 0x6c7086, mine)
  elseif case == 'missing' then
    -- no deepseek-ls on $PATH, and a python3 without the package
    vim.g.python3_host_prog = os.getenv('DSLS_BARE_PYTHON')
    require('deepseek_ls').setup({})
    wait(3000, function() return #notes > 0 end)
    local msg = notes[1] and notes[1].msg or ''
    check('one message', #notes == 1, notes)
    check('it says deepseek-ls is not on $PATH', msg:find('`deepseek-ls` is not on $PATH', 1, true), msg)
    check('it says how to install it', msg:find('pip install', 1, true) and msg:find('pipx install', 1, true), msg)
    check('it names the cmd option', msg:find("setup({ cmd =", 1, true), msg)
    check('it is an error', notes[1] and notes[1].level == vim.log.levels.ERROR, notes[1])
    vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('DSLS_FILE')))
    wait(1500, function() return #vim.lsp.get_clients({ name = 'deepseek_ls' }) > 0 end)
    check('no server that can only fail is started', #vim.lsp.get_clients({ name = 'deepseek_ls' }) == 0)
    wait(300)
    check('no second message', #notes == 1, notes)
    -- an explicit cmd that does not exist
    notes = {}
    require('deepseek_ls').setup({ cmd = { '/nonexistent/bin/deepseek-ls' } })
    wait(2000, function() return #notes > 0 end)
    local msg2 = notes[1] and notes[1].msg or ''
    check('a wrong cmd is named', msg2:find('/nonexistent/bin/deepseek-ls', 1, true)
      and msg2:find('not an executable', 1, true), msg2)
  elseif case == 'insert' then
    local ds = require('deepseek_ls')
    ds.setup({ cmd = vim.json.decode(os.getenv('DSLS_CMD')) })
    vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('DSLS_FILE')))
    wait(10000, function() return #vim.lsp.get_clients({ name = 'deepseek_ls' }) > 0 end)
    local client = vim.lsp.get_clients({ name = 'deepseek_ls' })[1]
    check('the server started', client ~= nil)
    wait(10000, function() return client and client.initialized end)
    wait(500)
    notes = {}
    type_keys('A')
    check('in Insert mode', vim.api.nvim_get_mode().mode == 'i', vim.api.nvim_get_mode())
    -- what the server sends when the endpoint is unreachable (a long warning)
    local long = 'DeepSeek: POST /beta/completions failed: ConnectError: cannot connect to 127.0.0.1:9: '
      .. 'Connection refused. Check your network connection and deepseek.baseUrl.'
    local handler = client.handlers['window/showMessage'] or vim.lsp.handlers['window/showMessage']
    handler(nil, { type = 2, message = long }, { client_id = client.id, method = 'window/showMessage' })
    handler(nil, { type = 2, message = long }, { client_id = client.id, method = 'window/showMessage' })
    wait(300)
    check('no message while typing', #notes == 0, notes)
    local line = ds.statusline()
    result.statusline = line
    check('the statusline shows it', line:find('⚠', 1, true) and line:find('POST /beta', 1, true), line)
    type_keys('x')
    check('typing goes on: the key reached the buffer', vim.api.nvim_get_current_line():find('x', 1, true),
      vim.api.nvim_get_current_line())
    type_keys('<Esc>')
    wait(2000, function() return #notes > 0 end)
    check('after Insert mode: the message, once', #notes == 1 and notes[1].msg == long, notes)
    check('shown in Normal mode', notes[1] and notes[1].mode == 'n', notes[1])
    check('the statusline notice is gone', not ds.statusline():find('⚠', 1, true), ds.statusline())
    -- in Normal mode a message is shown at once
    handler(nil, { type = 3, message = 'DeepSeek: hello' }, { client_id = client.id, method = 'window/showMessage' })
    wait(1000, function() return #notes > 1 end)
    check('Normal mode: shown at once', notes[2] and notes[2].msg == 'DeepSeek: hello', notes)
    client:stop()
    wait(3000, function() return client:is_stopped() end)
  elseif case == 'badkey' then
    -- a key pasted with a note into setup(): the message names setup()'s api_key, not a variable
    require('deepseek_ls').setup({ cmd = vim.json.decode(os.getenv('DSLS_CMD')), api_key = 'sk-test my key',
      base_url = os.getenv('DSLS_BASE_URL') })
    vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('DSLS_FILE')))
    wait(15000, function() return #notes > 0 end)
    local msg = notes[1] and notes[1].msg or ''
    check('the message names api_key in setup()', msg:find("api_key (given to require('deepseek_ls').setup())", 1, true), notes)
    check('and not the variable the plugin passed it in', not msg:find('DEEPSEEK_API_KEY contains', 1, true), msg)
    check('it says where the bad character is', msg:find('a space at character 8 of 14', 1, true), msg)
    check('never the key', not msg:find('my key', 1, true), msg)
    local client = vim.lsp.get_clients({ name = 'deepseek_ls' })[1]
    if client then
      client:stop()
      wait(3000, function() return client:is_stopped() end)
    end
  elseif case == 'health_missing' then
    -- no server, and a key pasted with a note: checkhealth says what to do and still reports the rest
    require('deepseek_ls').setup({ cmd = { '/nonexistent/bin/deepseek-ls' }, api_key = 'sk-test my key',
      base_url = 'http://127.0.0.1:9' })
    local health = checkhealth()
    result.health = health
    check('names the missing server', health:find('/nonexistent/bin/deepseek-ls', 1, true), health)
    check('ADVICE: how to install it (as setup() says)', health:find('ADVICE', 1, true)
      and health:find('pipx install', 1, true) and health:find('setup({ cmd =', 1, true), health)
    check('the key is still checked', health:find('contains a space at byte 8 of 14', 1, true), health)
    check('the key is never shown', not health:find('my key', 1, true), health)
    check('the endpoint is still shown', health:find('endpoint: http://127.0.0.1:9 (setup({ base_url }))', 1, true), health)
    check('the client section is still there', health:find('running client', 1, true), health)
  elseif case == 'nokey' then
    require('deepseek_ls').setup({ cmd = vim.json.decode(os.getenv('DSLS_CMD')) })
    vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('DSLS_FILE')))
    wait(15000, function() return #notes > 0 end)
    local msg = notes[1] and notes[1].msg or ''
    check('the no-key message names setup({ api_key = ... })', msg:find('No DeepSeek API key', 1, true)
      and msg:find("setup({ api_key = ... })", 1, true), notes)
    check('and not the VS Code command or deepseek.apiKey', not msg:find('Set API Key', 1, true)
      and not msg:find('deepseek.apiKey', 1, true), msg)
    -- the statusline's status says the key is missing, then how to set it
    local status = require('deepseek_ls.status')
    wait(5000, function() return status.data and status.data.message end)
    local smsg = status.data and status.data.message or ''
    check('status message says the key is missing', smsg:find('No DeepSeek API key', 1, true), status.data)
    check('status message says how to set it', smsg:find("setup({ api_key = ... })", 1, true), smsg)
    local health = checkhealth()
    result.health = health
    check('checkhealth says: no API key', health:find('no API key', 1, true), health)
    check('checkhealth has no double "skipped"', not health:find('(skipped) (skipped)', 1, true)
      and not health:find(') (skipped)', 1, true), health)
    check('checkhealth pluralises', require('deepseek_ls.health').plural(1, 'request') == '1 request'
      and require('deepseek_ls.health').plural(2, 'day') == '2 days')
    local client = vim.lsp.get_clients({ name = 'deepseek_ls' })[1]
    if client then
      client:stop()
      wait(3000, function() return client:is_stopped() end)
    end
  else
    error('unknown case ' .. tostring(case))
  end
end

vim.defer_fn(function() vim.cmd('qall!') end, 80000) -- watchdog
co = coroutine.create(function()
  local ok, err = xpcall(steps, debug.traceback)
  if not ok then
    result.error = tostring(err)
  end
  finish()
end)
coroutine.resume(co)
