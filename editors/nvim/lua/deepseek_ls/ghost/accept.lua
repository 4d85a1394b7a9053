-- Ghost text, part 4 of 4: accepting the suggestion, all of it (runs the
-- item's command, deepseek.acceptCompletion) or the next word / line
-- (deepseek/didPartiallyAcceptCompletion with the UTF-16 length accepted).
--
-- Covered closers (state.cover): a full accept replaces them, a partial
-- accept replaces the ones its piece writes (in order) and keeps the others.
local util = require('deepseek_ls.util')
local S = require('deepseek_ls.ghost.state')
local R = require('deepseek_ls.ghost.render')

local api = vim.api
local M = {}

--- The next word of s: leading blanks/newlines plus a run of word characters
--- or a run of other non-blank characters.
function M.next_word(s)
  local ws = s:match('^%s*') or ''
  local rest = s:sub(#ws + 1)
  local w = rest:match('^[%w_\128-\255]+') or rest:match('^[^%w_\128-\255%s]+') or ''
  return ws .. w
end

--- The rest of the current line of s, or (at a line end) the newline plus the next line.
function M.next_line(s)
  local nl = s:find('\n', 1, true)
  if not nl then
    return s
  end
  if nl > 1 then
    return s:sub(1, nl - 1)
  end
  local nl2 = s:find('\n', 2, true)
  return nl2 and s:sub(1, nl2 - 1) or s
end

--- How many leading bytes of `cover` `piece` writes: its characters found in
--- order in `piece` (the closers a partial accept reaches).
function M.covered(piece, cover)
  local n, pos = 0, 1
  for ch in cover:gmatch('[%z\1-\127\194-\244][\128-\191]*') do
    local at = piece:find(ch, pos, true)
    if not at then
      break
    end
    n, pos = n + #ch, at + #ch
  end
  return n
end

--- Insert `piece` at the cursor (in Insert mode) in place of the next
--- `replace` bytes, and move the cursor after it.
local function insert(st, piece, replace)
  local lines = vim.split(piece, '\n', { plain = true })
  local row, col = st.row, st.col
  api.nvim_buf_set_text(st.bufnr, row, col, row, col + (replace or 0), lines)
  local nrow = row + #lines - 1
  local ncol = (#lines == 1 and col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { nrow + 1, ncol })
  return nrow, ncol
end

--- Full accept: the covered closers go, the item's command runs.
local function accept_all(st, piece, cover)
  local client = S.client_of(st)
  local item = st.item
  S.hide(st)
  insert(st, piece, #cover)
  S.clear(st)
  if client and item and item.command then
    util.request(client, 'workspace/executeCommand', {
      command = item.command.command,
      arguments = item.command.arguments,
    }, function() end, st.bufnr)
  end
end

--- Partial accept: replaces the closers the piece writes, keeps the others.
local function accept_part(st, piece, cover)
  local client = S.client_of(st)
  local n = M.covered(piece, cover)
  local nrow, ncol = insert(st, piece, n)
  st.cover = cover:sub(n + 1)
  st.consumed = st.consumed + #piece
  S.anchor(st, nrow, ncol)
  R.render(st)
  if client and st.id ~= nil then
    local accepted = (st.base or '') .. st.text:sub(1, st.consumed)
    util.notify(client, 'deepseek/didPartiallyAcceptCompletion', {
      id = st.id,
      acceptedLength = util.enc_len(accepted, 'utf-16'),
    })
  end
end

---@param how 'all'|'word'|'line'
---@return boolean accepted
function M.accept(how)
  local st = S.get()
  if not st or not st.extmark then
    return false
  end
  local rem = S.remaining(st)
  if rem == '' then
    return false
  end
  local row, col = S.cursor()
  if row ~= st.row or col ~= st.col then
    S.clear(st)
    return false
  end
  local piece = rem
  if how == 'word' then
    piece = M.next_word(rem)
  elseif how == 'line' then
    piece = M.next_line(rem)
  end
  if piece == '' then
    piece = rem
  end
  S.cancel(st)
  local cover = st.cover or ''
  if cover ~= '' and api.nvim_get_current_line():sub(col + 1, col + #cover) ~= cover then
    cover = ''
  end
  if #piece >= #rem then
    accept_all(st, piece, cover)
  else
    accept_part(st, piece, cover)
  end
  return true
end

return M
