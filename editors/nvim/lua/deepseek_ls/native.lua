-- Neovim 0.12+: ghost text through the built-in vim.lsp.inline_completion.
-- Built-in accept runs the item's command (deepseek.acceptCompletion) itself
-- and replaces the item's range (closers the suggestion covers) itself;
-- this module adds what the built-in lacks: accept word / line
-- (deepseek/didPartiallyAcceptCompletion), dismiss, and didShowCompletion.
local config = require('deepseek_ls.config')
local util = require('deepseek_ls.util')

local api = vim.api
local M = {}

function M.available()
  local ic = vim.lsp.inline_completion
  return type(ic) == 'table' and type(ic.enable) == 'function' and type(ic.get) == 'function'
end

function M.active()
  return config.options.ghost_text.native ~= false and M.available()
end

local function item_id(item)
  local cmd = item and item.command
  local arg = cmd and cmd.arguments and cmd.arguments[1]
  return type(arg) == 'table' and arg.id or nil
end

--- The server command for Neovim's `cmd` seam (|vim.lsp.ClientConfig|: a
--- function that creates the RPC client): the RPC client vim.lsp.rpc.start
--- makes for the command list, whose `request` also reports the first item of
--- every inlineCompletion answer that arrives in Insert mode as shown
--- (deepseek/didShowCompletion): the built-in renderer shows it at once and
--- has no event for it. Only used when the built-in renderer is active.
---@param cmd string[]
---@return fun(dispatchers: table, conf?: table): table
function M.rpc_cmd(cmd)
  return function(dispatchers, conf)
    conf = conf or {}
    local rpc = vim.lsp.rpc.start(cmd, dispatchers, {
      cwd = conf.cmd_cwd,
      env = conf.cmd_env,
      detached = conf.detached,
    })
    local shown = {}
    local public
    local function report(result)
      local items = type(result) == 'table' and (result.items or result) or nil
      local id = type(items) == 'table' and item_id(items[1]) or nil
      if id ~= nil and not shown[id] and api.nvim_get_mode().mode:sub(1, 1) == 'i' then
        shown[id] = true
        public.notify('deepseek/didShowCompletion', { id = id })
      end
    end
    public = {
      request = function(method, params, callback, notify_reply_callback)
        if method == 'textDocument/inlineCompletion' and type(callback) == 'function' then
          local answer = callback
          callback = function(err, result)
            answer(err, result)
            report(result)
          end
        end
        return rpc.request(method, params, callback, notify_reply_callback)
      end,
      notify = rpc.notify,
      is_closing = rpc.is_closing,
      terminate = rpc.terminate,
    }
    return public
  end
end

function M.attach(_, bufnr)
  local ok, err = pcall(vim.lsp.inline_completion.enable, true, { bufnr = bufnr })
  if not ok then
    util.info('vim.lsp.inline_completion.enable failed: ' .. tostring(err), vim.log.levels.WARN)
  end
end

local function ns()
  return api.nvim_get_namespaces()['nvim.lsp.inline_completion']
end

function M.visible(bufnr)
  local n = ns()
  if not n then
    return false
  end
  return #api.nvim_buf_get_extmarks(bufnr or 0, n, 0, -1, { limit = 1 }) > 0
end

--- Insert part of the item at the cursor (accept word / line).
local function partial(item, how)
  local words = require('deepseek_ls.ghost.accept')
  local text = item.insert_text
  if type(text) ~= 'string' then
    text = text and text.value or ''
  end
  local row, col = unpack(api.nvim_win_get_cursor(0))
  row = row - 1
  local line = api.nvim_get_current_line()
  local typed = ''
  local r = item.range
  if r and r.start and r.start.row == row and r.start.col < col then
    typed = line:sub(r.start.col + 1, col)
    if text:sub(1, #typed) ~= typed then
      typed = ''
    end
  end
  local rem = text:sub(#typed + 1)
  local piece = how == 'word' and words.next_word(rem) or words.next_line(rem)
  if piece == '' then
    piece = rem
  end
  -- closers after the cursor the item's range covers (byte columns, converted
  -- by the built-in client): a full accept replaces them, a partial one the
  -- ones its piece writes
  local e = r and (r.end_ or r['end'])
  local cover = ''
  if e and e.row == row and e.col > col then
    cover = line:sub(col + 1, e.col)
  end
  local replace = #piece >= #rem and #cover or words.covered(piece, cover)
  local lines = vim.split(piece, '\n', { plain = true })
  api.nvim_buf_set_text(0, row, col, row, col + replace, lines)
  api.nvim_win_set_cursor(0, { row + #lines, (#lines == 1 and col or 0) + #lines[#lines] })
  local client = vim.lsp.get_client_by_id(item.client_id)
  local id = item_id(item)
  if client and id ~= nil then
    if #piece >= #rem and item.command then
      client:exec_cmd(item.command, { bufnr = api.nvim_get_current_buf() })
    else
      util.notify(client, 'deepseek/didPartiallyAcceptCompletion', {
        id = id,
        acceptedLength = util.enc_len(typed .. piece, 'utf-16'),
      })
    end
  end
end

function M.key_actions()
  local ic = vim.lsp.inline_completion
  local function dismiss_now()
    local b = api.nvim_get_current_buf()
    ic.enable(false, { bufnr = b })
    ic.enable(true, { bufnr = b })
  end
  return {
    accept = function(fallthrough)
      if ic.get() then
        return ''
      end
      return fallthrough()
    end,
    accept_word = function(fallthrough)
      if ic.get({ on_accept = function(item) partial(item, 'word') end }) then
        return ''
      end
      return fallthrough()
    end,
    accept_line = function(fallthrough)
      if ic.get({ on_accept = function(item) partial(item, 'line') end }) then
        return ''
      end
      return fallthrough()
    end,
    next = function(fallthrough)
      if M.visible() then
        ic.select({ count = 1 })
        return ''
      end
      return fallthrough()
    end,
    prev = function(fallthrough)
      if M.visible() then
        ic.select({ count = -1 })
        return ''
      end
      return fallthrough()
    end,
    dismiss = function(fallthrough)
      if M.visible() then
        vim.schedule(dismiss_now)
        return ''
      end
      return fallthrough()
    end,
  }
end

return M
