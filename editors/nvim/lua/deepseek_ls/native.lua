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

local shown = {}

local function item_id(item)
  local cmd = item and item.command
  local arg = cmd and cmd.arguments and cmd.arguments[1]
  return type(arg) == 'table' and arg.id or nil
end

-- Report the first item of every inlineCompletion answer that arrives in
-- Insert mode as shown (the built-in renderer shows it at once).
local function wrap_requests(client)
  if client._deepseek_wrapped then
    return
  end
  client._deepseek_wrapped = true
  local orig = client.request
  client.request = function(self, method, params, handler, bufnr)
    if method == 'textDocument/inlineCompletion' and type(handler) == 'function' then
      local h = handler
      handler = function(err, result, ctx, ...)
        h(err, result, ctx, ...)
        local items = result and (result.items or result)
        local id = type(items) == 'table' and item_id(items[1]) or nil
        if id ~= nil and not shown[id] and api.nvim_get_mode().mode:sub(1, 1) == 'i' then
          shown[id] = true
          util.notify(client, 'deepseek/didShowCompletion', { id = id })
        end
      end
    end
    return orig(self, method, params, handler, bufnr)
  end
end

function M.attach(client, bufnr)
  wrap_requests(client)
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
  local ghost = require('deepseek_ls.ghost')
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
  local piece = how == 'word' and ghost._next_word(rem) or ghost._next_line(rem)
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
  local replace = #piece >= #rem and #cover or ghost._covered(piece, cover)
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
        acceptedLength = util.utf16_len(typed .. piece),
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
