-- Small helpers shared by the modules: client method calls that work on
-- Neovim 0.10 (dot calls) and 0.11+ (colon calls), and position encodings.
local M = {}

M.name = 'deepseek_ls'
M.has_011 = vim.fn.has('nvim-0.11') == 1

---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.get_client(bufnr)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local filter = { name = M.name }
  if bufnr then
    filter.bufnr = bufnr == 0 and vim.api.nvim_get_current_buf() or bufnr
  end
  local clients = get(filter)
  return clients[1]
end

--- Any running deepseek_ls client (for commands that do not need a buffer).
function M.any_client()
  return M.get_client(vim.api.nvim_get_current_buf()) or M.get_client(nil)
end

function M.request(client, method, params, handler, bufnr)
  if M.has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if M.has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel(client, request_id)
  if not request_id then
    return
  end
  if M.has_011 then
    return client:cancel_request(request_id)
  end
  return client.cancel_request(request_id)
end

function M.execute(client, command, argument, handler, bufnr)
  return M.request(client, 'workspace/executeCommand', {
    command = command,
    arguments = { argument or vim.empty_dict() },
  }, handler or function() end, bufnr)
end

--- Length of `s` (or of its first `index` bytes) in the units of `encoding`
--- ('utf-8' | 'utf-16' | 'utf-32'), by vim.str_utfindex; an index past the end
--- counts the whole string, one inside a character counts that character.
--- (0.11+: vim.str_utfindex(s, encoding, index, strict); 0.10: (s, index) -> utf-32, utf-16.)
---@param s string
---@param encoding? string default 'utf-16'
---@param index? integer byte index (default: #s)
---@return integer
function M.enc_len(s, encoding, index)
  encoding = encoding or 'utf-16'
  index = math.max(0, math.min(index or #s, #s))
  if encoding == 'utf-8' then
    return index
  end
  if M.has_011 then
    return vim.str_utfindex(s, encoding, index, false)
  end
  local utf32, utf16 = vim.str_utfindex(s, index)
  return encoding == 'utf-32' and utf32 or utf16
end

--- Byte offset in `line` of the position `index` given in `encoding` units
--- (clamped to the line; a position inside a character goes to its end), by
--- vim.str_byteindex (0.11+: (s, encoding, index, strict); 0.10: (s, index, use_utf16)).
function M.enc_to_byte(line, index, encoding)
  encoding = encoding or 'utf-16'
  index = math.max(0, tonumber(index) or 0)
  if encoding == 'utf-8' then
    return math.min(index, #line)
  end
  local ok, b
  if M.has_011 then
    ok, b = pcall(vim.str_byteindex, line, encoding, index, false)
  else
    ok, b = pcall(vim.str_byteindex, line, index, encoding == 'utf-16')
  end
  if not ok or type(b) ~= 'number' then
    return #line -- past the end (0.10 raises there)
  end
  return math.min(b, #line)
end

--- LSP position of a 0-based (row, byte col) in bufnr.
function M.lsp_position(bufnr, row, col, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  return { line = row, character = M.enc_len(line, encoding, col) }
end

function M.offset_encoding(client)
  return client.offset_encoding or 'utf-16'
end

function M.info(msg, level)
  require('deepseek_ls.notify').show('[deepseek] ' .. msg, level or vim.log.levels.INFO)
end

return M
