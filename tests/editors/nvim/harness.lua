-- Headless test harness for the deepseek_ls Neovim plugin.
--
-- Run: nvim --headless -u NONE -i NONE -n -c 'luafile tests/editors/nvim/harness.lua'
-- Environment:
--   DSLS_PLUGIN_DIR  editors/nvim
--   DSLS_CMD         JSON list: the server command
--   DSLS_FILE        the file to edit
--   DSLS_SCENARIO    name of a scenario in scenarios.lua (next to this file)
--   DSLS_RESULT      where to write the JSON result
--   DSLS_TIMEOUT     seconds before the watchdog gives up (default 40)
--
-- The scenario runs in a coroutine; keys go through the real typeahead
-- (nvim_feedkeys without 'x'), so mappings and autocommands run as when a
-- person types. Exit code: 0 pass, 1 failed check, 2 Lua error, 3 timeout.
local H = {}
local uv = vim.uv or vim.loop
local api = vim.api

H.result = { checks = {}, log = {}, sent = {} }
local result_path = os.getenv('DSLS_RESULT')
local finished = false

function H.log(fmt, ...)
  local msg = select('#', ...) > 0 and string.format(fmt, ...) or fmt
  table.insert(H.result.log, string.format('%.3f %s', uv.hrtime() / 1e9 % 1000, msg))
  io.stderr:write(msg .. '\n')
end

local function write_result()
  if not result_path then
    return
  end
  local ok, text = pcall(vim.json.encode, H.result)
  if not ok then
    text = vim.json.encode({ exit = 2, reason = 'result not serialisable: ' .. tostring(text), checks = {} })
  end
  local f = io.open(result_path, 'w')
  if f then
    f:write(text)
    f:close()
  end
end

function H.finish(code, reason)
  if finished then
    return
  end
  finished = true
  H.result.exit = code
  H.result.reason = reason
  pcall(write_result)
  io.stderr:flush()
  vim.cmd('cquit ' .. code)
end

--- Record a check; failing checks make the run fail at the end.
function H.check(name, ok, detail)
  table.insert(H.result.checks, { name = name, ok = ok and true or false, detail = detail })
  H.log('%s %s %s', ok and 'PASS' or 'FAIL', name, detail and vim.inspect(detail) or '')
  return ok
end

local co

local function resume(...)
  if finished then
    return
  end
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    H.log('ERROR %s', tostring(err))
    H.result.error = tostring(err) .. '\n' .. debug.traceback(co)
    H.finish(2, 'lua error')
  elseif coroutine.status(co) == 'dead' then
    local failed = 0
    for _, c in ipairs(H.result.checks) do
      if not c.ok then
        failed = failed + 1
      end
    end
    H.finish(failed == 0 and 0 or 1, failed == 0 and 'ok' or (failed .. ' failed checks'))
  end
end

--- Let the editor run (typeahead, autocommands, RPC) for ms milliseconds.
function H.sleep(ms)
  vim.defer_fn(function()
    resume()
  end, ms)
  coroutine.yield()
end

--- Wait until cond() is truthy; returns its value, or nil after timeout ms.
function H.wait(cond, timeout, what)
  local deadline = uv.now() + (timeout or 5000)
  while true do
    local ok, v = pcall(cond)
    if ok and v then
      return v
    end
    if uv.now() > deadline then
      H.log('timed out waiting for %s', what or '?')
      return nil
    end
    H.sleep(20)
  end
end

--- Type keys (key notation) as if the user typed them (mappings apply);
--- returns once Neovim has taken them from the typeahead.
function H.feed(keys)
  api.nvim_feedkeys(api.nvim_replace_termcodes(keys, true, false, true), 'mt', false)
  local deadline = uv.now() + 5000
  repeat
    H.sleep(15)
  until vim.fn.getchar(1) == 0 or uv.now() > deadline
  H.sleep(15)
end

--- Wait up to timeout ms for cond() (with the value it returns), then check it.
function H.expect(name, cond, timeout, detail)
  local v = H.wait(cond, timeout or 3000, name)
  return H.check(name, v, detail and detail() or nil)
end

--- Record what the plugin sends to the server: a spy on the client's RPC
--- object (everything sent goes through its request / notify).
function H.spy(client)
  local rpc = client.rpc
  local req, notify = rpc.request, rpc.notify
  H.result.cancels = 0
  rpc.request = function(method, params, callback, notify_reply_callback)
    if method ~= 'textDocument/inlineCompletion' then
      table.insert(H.result.sent, { kind = 'request', method = method, params = params })
    else
      H.result.inline_requests = (H.result.inline_requests or 0) + 1
      H.result.last_trigger = params.context and params.context.triggerKind
    end
    return req(method, params, callback, notify_reply_callback)
  end
  rpc.notify = function(method, params)
    if method == '$/cancelRequest' then
      H.result.cancels = H.result.cancels + 1
    elseif method:match('^deepseek/') then
      table.insert(H.result.sent, { kind = 'notify', method = method, params = params })
    end
    return notify(method, params)
  end
end

function H.sent(method)
  local out = {}
  for _, s in ipairs(H.result.sent) do
    if s.method == method then
      out[#out + 1] = s
    end
  end
  return out
end

function H.run(fn)
  local timeout = tonumber(os.getenv('DSLS_TIMEOUT') or '40')
  vim.defer_fn(function()
    H.log('watchdog: %ds passed', timeout)
    H.finish(3, 'timeout')
  end, timeout * 1000)
  co = coroutine.create(fn)
  vim.schedule(resume)
end

return H
