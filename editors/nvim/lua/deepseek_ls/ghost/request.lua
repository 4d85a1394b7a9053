-- Ghost text, part 3 of 4: asking the server (textDocument/inlineCompletion)
-- and turning its items into candidates; automatic answers replace the
-- suggestion (without a redraw when the text is the same), invoked ones
-- (next / previous) are collected to cycle through.
local util = require('deepseek_ls.util')
local S = require('deepseek_ls.ghost.state')
local R = require('deepseek_ls.ghost.render')

local api = vim.api
local M = {}

local function item_id(item)
  local cmd = item and item.command
  local arg = cmd and cmd.arguments and cmd.arguments[1]
  if type(arg) == 'table' then
    return arg.id
  end
end

--- The item's text to show at (row, col), the part of it already typed
--- before the cursor, and the bytes after the cursor its range covers; or nil.
local function item_text(item, client, row, col)
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value
  end
  if type(text) ~= 'string' or text == '' then
    return nil
  end
  local r = item.range
  if not (r and r.start) then
    return text, '', ''
  end
  -- the range starts at the cursor (or before it on this line, where the
  -- text must already match the suggestion) and may end after it on this
  -- line, over closers the suggestion replaces
  if r.start.line ~= row then
    return nil
  end
  local line = api.nvim_get_current_line()
  local enc = util.offset_encoding(client)
  local typed = ''
  local scol = util.enc_to_byte(line, r.start.character, enc)
  if scol < col then
    typed = line:sub(scol + 1, col)
    if text:sub(1, #typed) ~= typed then
      return nil
    end
    text = text:sub(#typed + 1)
    if text == '' then
      return nil
    end
  end
  local cover = ''
  local e = r['end']
  if e and e.line == row then
    local ecol = util.enc_to_byte(line, e.character, enc)
    if ecol > col then
      cover = line:sub(col + 1, ecol)
    end
  end
  return text, typed, cover
end

--- Ask the server for a suggestion at the cursor; on_result(st, cands, row, col)
--- gets the candidates if the buffer is still in the state it was asked for.
---@param st deepseek_ls.GhostState
---@param kind integer trigger kind
---@param on_result fun(st, cands, row, col)|nil
function M.request(st, kind, on_result)
  S.cancel(st)
  local client = S.client_of(st)
  if not client then
    return
  end
  local bufnr = st.bufnr
  local row, col = S.cursor()
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = util.lsp_position(bufnr, row, col, util.offset_encoding(client)),
    context = { triggerKind = kind },
  }
  local seq = st.seq
  local ok, req_id = util.request(client, 'textDocument/inlineCompletion', params, function(err, result)
    if st.seq ~= seq then
      return
    end
    st.req_id = nil
    if err then
      if err.code ~= -32800 and kind == S.TRIGGER_INVOKED then
        util.info('inline completion failed: ' .. tostring(err.message), vim.log.levels.WARN)
      end
      return
    end
    -- drop answers for a state of the buffer that is gone
    if not S.in_insert() or api.nvim_get_current_buf() ~= bufnr then
      return
    end
    local r2, c2 = S.cursor()
    if r2 ~= row or c2 ~= col or api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return
    end
    local items = result and (result.items or result) or {}
    local cands = {}
    for _, item in ipairs(items) do
      local text, base, cover = item_text(item, client, row, col)
      if text then
        cands[#cands + 1] = { item = item, text = text, base = base, cover = cover, id = item_id(item) }
      end
    end
    if on_result then
      on_result(st, cands, row, col)
    end
  end, bufnr)
  if ok then
    st.req_id = req_id
  end
end

--- Result of an automatic request: show it, without redrawing if it is the same text.
function M.on_auto_result(st, cands, row, col)
  local cand = cands[1]
  if not cand then
    -- nothing new: keep a still-valid continuation on screen
    if S.remaining(st) == '' then
      S.clear(st)
    end
    return
  end
  if st.text and S.remaining(st) == cand.text and (st.cover or '') == cand.cover and st.row == row and st.col == col then
    -- same text as on screen: only adopt the new id (no redraw)
    if cand.id ~= nil and cand.id ~= st.id then
      st.item, st.id, st.text, st.base, st.consumed = cand.item, cand.id, cand.text, cand.base, 0
      R.render(st)
    end
  else
    R.set_suggestion(st, cand, row, col)
  end
  st.cands, st.cand_index = { cand }, 1
end

--- Result handler of an invoked request: a new candidate is added and shown,
--- a known one makes it cycle by `dir`.
function M.on_invoked_result(dir)
  return function(st, cands, row, col)
    local cand = cands[1]
    if not cand then
      if #st.cands == 0 then
        util.info('no suggestion')
      end
      return
    end
    for i, c in ipairs(st.cands) do
      if c.text == cand.text then
        -- already known: cycle instead
        local n = #st.cands
        local idx = n > 1 and ((st.cand_index - 1 + dir) % n) + 1 or i
        st.cand_index = idx
        R.set_suggestion(st, st.cands[idx], row, col)
        return
      end
    end
    table.insert(st.cands, cand)
    st.cand_index = #st.cands
    R.set_suggestion(st, cand, row, col)
  end
end

--- Automatic request now (the answer replaces the suggestion).
function M.automatic(st)
  M.request(st, S.TRIGGER_AUTOMATIC, M.on_auto_result)
end

--- Invoked request (next: dir 1, previous: dir -1).
function M.invoked(st, dir)
  M.request(st, S.TRIGGER_INVOKED, M.on_invoked_result(dir))
end

return M
