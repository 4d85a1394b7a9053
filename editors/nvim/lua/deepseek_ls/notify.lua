-- Messages that never interrupt typing.
--
-- A message arriving in Insert (or Replace) mode is not echoed at once: a long
-- one would open a hit-enter prompt that swallows the next keystrokes. It is
-- shown in the statusline component right away and through vim.notify once
-- Insert mode is left. In other modes it goes to vim.notify (scheduled).
local M = {}

--- Messages waiting for InsertLeave: { {msg, level}, ... }.
M.pending = {}
--- The last message of the session that is not yet shown with vim.notify (statusline).
M.notice = nil

local group = nil

local function typing()
  local mode = vim.api.nvim_get_mode().mode
  return mode:sub(1, 1) == 'i' or mode:sub(1, 1) == 'R'
end

local function refresh()
  pcall(vim.cmd, 'redrawstatus!')
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'DeepSeekStatus', modeline = false })
end

local function flush()
  local queued = M.pending
  M.pending = {}
  M.notice = nil
  for _, item in ipairs(queued) do
    vim.notify(item[1], item[2])
  end
  refresh()
end

--- Show msg at level (vim.log.levels.*) without stealing keystrokes.
function M.show(msg, level)
  level = level or vim.log.levels.INFO
  vim.schedule(function()
    if not typing() then
      vim.notify(msg, level)
      return
    end
    for _, item in ipairs(M.pending) do
      if item[1] == msg then
        return -- the same message twice while typing: once is enough
      end
    end
    table.insert(M.pending, { msg, level })
    if level >= vim.log.levels.WARN then
      M.notice = msg
      refresh()
    end
    group = group or vim.api.nvim_create_augroup('deepseek_ls_notify', { clear = true })
    vim.api.nvim_clear_autocmds({ group = group })
    vim.api.nvim_create_autocmd('InsertLeave', {
      group = group,
      once = true,
      callback = function()
        vim.schedule(flush)
      end,
    })
  end)
end

local LEVELS = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }

--- window/showMessage handler: the server's messages, through M.show.
function M.on_show_message(_, params)
  if type(params) == 'table' and type(params.message) == 'string' then
    local msg = params.message
    if not msg:match('^DeepSeek') then
      msg = 'DeepSeek: ' .. msg
    end
    M.show(msg, LEVELS[params.type] or vim.log.levels.INFO)
  end
  return vim.NIL
end

return M
