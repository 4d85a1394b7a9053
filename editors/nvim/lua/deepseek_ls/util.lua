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

--- Number of UTF-16 code units in a UTF-8 string.
---@param s string
function M.utf16_len(s)
  local n = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 0x80 or b >= 0xC0 then
      n = n + (b >= 0xF0 and 2 or 1)
    end
  end
  return n
end

--- Number of code points in a UTF-8 string.
function M.utf32_len(s)
  local n = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 0x80 or b >= 0xC0 then
      n = n + 1
    end
  end
  return n
end

--- Length of `s` in the units of `encoding` ('utf-8' | 'utf-16' | 'utf-32').
function M.enc_len(s, encoding)
  if encoding == 'utf-8' then
    return #s
  elseif encoding == 'utf-32' then
    return M.utf32_len(s)
  end
  return M.utf16_len(s)
end

--- Byte offset in `line` of the position `index` given in `encoding` units
--- (clamped to the line; a position inside a character goes to its end).
--- Uses vim.str_byteindex (0.11: (s, encoding, index, strict); 0.10: (s, index, use_utf16)).
function M.enc_to_byte(line, index, encoding)
  encoding = encoding or 'utf-16'
  index = math.max(0, tonumber(index) or 0)
  if encoding == 'utf-8' then
    return math.min(index, #line)
  end
  if index >= M.enc_len(line, encoding) then
    return #line
  end
  local ok, b
  if M.has_011 then
    ok, b = pcall(vim.str_byteindex, line, encoding, index, false)
  else
    ok, b = pcall(vim.str_byteindex, line, index, encoding == 'utf-16')
  end
  if not ok or type(b) ~= 'number' then
    return #line
  end
  return math.min(b, #line)
end

--- LSP position of a 0-based (row, byte col) in bufnr.
function M.lsp_position(bufnr, row, col, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  return { line = row, character = M.enc_len(line:sub(1, col), encoding) }
end

function M.offset_encoding(client)
  return client.offset_encoding or 'utf-16'
end

function M.info(msg, level)
  require('deepseek_ls.notify').show('[deepseek] ' .. msg, level or vim.log.levels.INFO)
end

return M
