-- deepseek/status notifications -> statusline component.
local config = require('deepseek_ls.config')

local M = {}

--- Last deepseek/status params (nil until the server sent one).
M.data = nil
--- Local state while a request of ours is in flight (chat / explain).
M.busy = 0

local function refresh()
  vim.schedule(function()
    pcall(vim.cmd, 'redrawstatus!')
    pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'DeepSeekStatus', modeline = false })
  end)
end

function M.update(params)
  if type(params) ~= 'table' then
    return
  end
  M.data = params
  refresh()
end

function M.set_busy(delta)
  M.busy = math.max(0, M.busy + delta)
  refresh()
end

local function running()
  local util = require('deepseek_ls.util')
  return util.get_client(nil) ~= nil
end

--- $ with enough digits to show a small session cost.
function M.money(usd)
  usd = tonumber(usd) or 0
  if usd >= 1 then
    return string.format('$%.2f', usd)
  elseif usd >= 0.01 or usd == 0 then
    return string.format('$%.4f', usd)
  end
  return string.format('$%.5f', usd)
end

local function pct(rate)
  rate = tonumber(rate) or 0
  if rate <= 1 then
    rate = rate * 100
  end
  return math.floor(rate + 0.5)
end

--- Is the buffer of the window whose statusline is drawn (else the current
--- one) the file a `deepseek/status` of state `excluded` is about?
function M.excluded_here(d)
  local uri = type(d) == 'table' and d.excludedUri
  if type(uri) ~= 'string' or uri == '' then
    return true
  end
  local win = vim.g.statusline_winid
  if type(win) ~= 'number' or not vim.api.nvim_win_is_valid(win) then
    win = vim.api.nvim_get_current_win()
  end
  local ok, here = pcall(vim.uri_from_bufnr, vim.api.nvim_win_get_buf(win))
  return ok and here == uri
end

--- One line of text: "<prefix> <state>[: message] [$cost · hit N%]".
--- Returns '' when no deepseek-ls client is running.
--- opts.escape doubles '%' for statusline *expressions* (e.g. lualine functions);
--- not needed inside %{...}.
---@param opts? {prefix?: string, usage?: boolean, escape?: boolean}
function M.statusline(opts)
  opts = opts or {}
  if not running() then
    return ''
  end
  local prefix = opts.prefix or config.options.statusline.prefix or 'DeepSeek'
  local d = M.data or {}
  local state = d.state or 'idle'
  if state == 'excluded' and not M.excluded_here(d) then
    state = 'idle' -- `excluded` is about one file: not the one in this window
  end
  if state == 'idle' and M.busy > 0 then
    state = 'waiting'
  end
  local s = prefix .. ' ' .. state
  local ep = d.endpoint
  if type(ep) == 'table' and ep.primary == false and type(ep.name) == 'string' then
    s = s .. ' via ' .. ep.name -- failover: a fallback endpoint answers while DeepSeek fails
  end
  if state == 'error' or state == 'paused' or state == 'excluded' then
    local msg = d.message
    if type(msg) == 'string' and msg ~= '' then
      if #msg > 40 then
        msg = msg:sub(1, 39) .. '…'
      end
      s = s .. ': ' .. msg
    end
  end
  local notice = require('deepseek_ls.notify').notice
  if notice and not s:find(': ', 1, true) then
    -- a warning that arrived while typing: shown here until Insert mode is left
    notice = notice:gsub('^DeepSeek:%s*', ''):gsub('^%[deepseek%]%s*', '')
    if #notice > 40 then
      notice = notice:sub(1, 39) .. '…'
    end
    s = s .. ' ⚠ ' .. notice
  end
  local u = d.usage
  if opts.usage ~= false and type(u) == 'table' and (tonumber(u.requests) or 0) > 0 then
    s = s .. string.format(' %s · hit %d%%', M.money(u.costUsd), pct(u.hitRate))
  end
  if opts.escape then
    s = s:gsub('%%', '%%%%')
  end
  return s
end

M.pct = pct

return M
