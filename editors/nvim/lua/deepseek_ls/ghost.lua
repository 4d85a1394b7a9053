-- Ghost text (inline completion) for Neovim 0.10 / 0.11: the plugin's own
-- extmark renderer. On 0.12+ (vim.lsp.inline_completion) see native.lua.
--
-- Life of a suggestion:
--   InsertEnter / TextChangedI / CursorMovedI -> (coalesced) on_change -> request()
--   response -> state.text, anchored at the cursor -> render() (one extmark:
--   inline virt_text for the rest of the first line + virt_lines for the others)
--   typing the next characters of the suggestion keeps it (trimmed in place,
--   no clear/redraw); any other edit or cursor move clears it.
--
-- Covered closers: an item's range may end after the cursor on the cursor
-- line (`def area(|)` + `width: float) -> float:` with the range over the
-- `)` an auto-pair inserted). Those bytes (state.cover) stay right after the
-- cursor until accepted: a full accept replaces them, a partial accept
-- replaces the ones its piece writes (in order) and keeps the others. While
-- a cover is there the suggestion is drawn as an overlay over it (and the
-- rest of the line redrawn after it), so `)` is not shown twice.
local util = require('deepseek_ls.util')
local config = require('deepseek_ls.config')

local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('deepseek_ls.ghost')

local TRIGGER_INVOKED, TRIGGER_AUTOMATIC = 1, 2

---@class deepseek_ls.GhostState
---@field bufnr integer
---@field client_id integer
---@field seq integer          request sequence number (responses of older ones are dropped)
---@field req_id integer|nil   in-flight request id (cancelled when a new one starts)
---@field text string|nil      suggestion text (from the anchor position the server was asked at)
---@field consumed integer     bytes of `text` already in the buffer (typed through / accepted)
---@field cover string         bytes right after the cursor the rest of the suggestion replaces ('' none)
---@field item table|nil       the InlineCompletionItem
---@field id any               suggestion id (item.command.arguments[1].id)
---@field row integer          0-based row of the rest of the suggestion
---@field col integer          0-based byte col of the rest of the suggestion
---@field prefix string        line text before col when anchored
---@field extmark integer|nil
---@field shown table<any, boolean> ids already reported with deepseek/didShowCompletion
---@field cands table[]        candidates seen at this position (next / prev)
---@field cand_index integer
---@field last table           {tick, row, col} seen by the last on_change
---@field req_scheduled boolean an automatic request is scheduled
---@field disabled boolean     auto trigger off for this buffer
local states = {}
M._states = states

local function cfg()
  return config.options.ghost_text
end

local function state(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  return states[bufnr]
end
M.state = state

local function cursor()
  local c = api.nvim_win_get_cursor(0)
  return c[1] - 1, c[2]
end

local function in_insert()
  local m = api.nvim_get_mode().mode
  return m:sub(1, 1) == 'i'
end

local function remaining(st)
  if not st.text then
    return ''
  end
  return st.text:sub(st.consumed + 1)
end

local function client_of(st)
  return vim.lsp.get_client_by_id(st.client_id)
end

local function hide(st)
  if st.extmark then
    pcall(api.nvim_buf_del_extmark, st.bufnr, M.ns, st.extmark)
    st.extmark = nil
  end
end

--- Forget the suggestion and remove its text.
local function clear(st)
  hide(st)
  st.text, st.item, st.id, st.consumed, st.cover = nil, nil, nil, 0, ''
  st.cands, st.cand_index = {}, 0
end

local function cancel(st)
  if st.req_id then
    local client = client_of(st)
    if client then
      pcall(util.cancel, client, st.req_id)
    end
    st.req_id = nil
  end
  st.seq = st.seq + 1
end

local function display(s, bufnr)
  if s:find('\t', 1, true) then
    s = s:gsub('\t', string.rep(' ', vim.bo[bufnr].tabstop))
  end
  return s
end

local function render(st)
  local rem = remaining(st)
  if rem == '' then
    hide(st)
    return
  end
  if vim.fn.pumvisible() == 1 then
    hide(st)
    return
  end
  local line = api.nvim_buf_get_lines(st.bufnr, st.row, st.row + 1, false)[1]
  if not line or #line < st.col then
    clear(st)
    return
  end
  local hl = cfg().hl_group
  local lines = vim.split(rem, '\n', { plain = true })
  local opts = {
    id = st.extmark,
    virt_text_pos = 'inline',
    hl_mode = 'combine',
    priority = 300,
    right_gravity = true,
  }
  local cover = st.cover or ''
  if cover ~= '' and line:sub(st.col + 1, st.col + #cover) ~= cover then
    st.cover, cover = '', ''
  end
  local vl = {}
  for i = 2, #lines do
    vl[#vl + 1] = { { display(lines[i], st.bufnr), hl } }
  end
  if cover == '' then
    if lines[1] ~= '' then
      opts.virt_text = { { display(lines[1], st.bufnr), hl } }
    end
  else
    -- overlay the covered closers and what follows them: the suggestion's
    -- first line, then the line's tail after the cover (where it will be
    -- after a full accept: here, or at the end of the last virtual line)
    local after = display(line:sub(st.col + #cover + 1), st.bufnr)
    local first = display(lines[1], st.bufnr)
    local chunks = { { first, hl } }
    local width = vim.fn.strdisplaywidth(first)
    if after ~= '' then
      if #lines == 1 then
        chunks[2] = { after }
        width = width + vim.fn.strdisplaywidth(after)
      else
        table.insert(vl[#vl], { after })
      end
    end
    local under = vim.fn.strdisplaywidth(display(cover, st.bufnr) .. after)
    if width < under then
      chunks[#chunks + 1] = { string.rep(' ', under - width) }
    end
    opts.virt_text = chunks
    opts.virt_text_pos = 'overlay'
  end
  if #vl > 0 then
    opts.virt_lines = vl
  end
  local ok, id = pcall(api.nvim_buf_set_extmark, st.bufnr, M.ns, st.row, st.col, opts)
  if not ok then
    clear(st)
    return
  end
  st.extmark = id
  if st.id ~= nil and not st.shown[st.id] then
    st.shown[st.id] = true
    local client = client_of(st)
    if client then
      util.notify(client, 'deepseek/didShowCompletion', { id = st.id })
    end
  end
end

--- Anchor the suggestion at the cursor.
local function anchor(st, row, col)
  local line = api.nvim_get_current_line()
  st.row, st.col, st.prefix = row, col, line:sub(1, col)
end

--- Still a valid continuation after an edit? Trims what was typed through.
local function continues(st, row, col)
  if not st.text or row ~= st.row or col < st.col then
    return false
  end
  local line = api.nvim_get_current_line()
  if line:sub(1, st.col) ~= st.prefix then
    return false
  end
  local typed = line:sub(st.col + 1, col)
  local rem = remaining(st)
  if #typed >= #rem or rem:sub(1, #typed) ~= typed then
    return false
  end
  st.consumed = st.consumed + #typed
  anchor(st, row, col)
  local cover = st.cover or ''
  if cover ~= '' and line:sub(col + 1, col + #cover) ~= cover then
    st.cover = '' -- the closers are gone (typed over): nothing left to replace
  end
  return true
end

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

--- How many leading bytes of `cover` `piece` writes: its characters found in
--- order in `piece` (the closers a partial accept reaches).
local function covered(piece, cover)
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
M._covered = covered

local function set_suggestion(st, cand, row, col)
  st.item, st.text, st.base, st.id, st.consumed = cand.item, cand.text, cand.base, cand.id, 0
  st.cover = cand.cover or ''
  anchor(st, row, col)
  render(st)
end

--- Ask the server for a suggestion at the cursor.
---@param st deepseek_ls.GhostState
---@param kind integer trigger kind
---@param on_result fun(st, cands)|nil
local function request(st, kind, on_result)
  cancel(st)
  local client = client_of(st)
  if not client then
    return
  end
  local bufnr = st.bufnr
  local row, col = cursor()
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local enc = util.offset_encoding(client)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = util.lsp_position(bufnr, row, col, enc),
    context = { triggerKind = kind },
  }
  local seq = st.seq
  local ok, req_id = util.request(client, 'textDocument/inlineCompletion', params, function(err, result)
    if st.seq ~= seq then
      return
    end
    st.req_id = nil
    if err then
      if err.code ~= -32800 and kind == TRIGGER_INVOKED then
        util.info('inline completion failed: ' .. tostring(err.message), vim.log.levels.WARN)
      end
      return
    end
    -- drop answers for a state of the buffer that is gone
    if not in_insert() or api.nvim_get_current_buf() ~= bufnr then
      return
    end
    local r2, c2 = cursor()
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
local function on_auto_result(st, cands, row, col)
  local cand = cands[1]
  if not cand then
    -- nothing new: keep a still-valid continuation on screen
    if remaining(st) == '' then
      clear(st)
    end
    return
  end
  if st.text and remaining(st) == cand.text and (st.cover or '') == cand.cover and st.row == row and st.col == col then
    -- same text as on screen: only adopt the new id (no redraw)
    if cand.id ~= nil and cand.id ~= st.id then
      st.item, st.id, st.text, st.base, st.consumed = cand.item, cand.id, cand.text, cand.base, 0
      render(st)
    end
  else
    set_suggestion(st, cand, row, col)
  end
  st.cands, st.cand_index = { cand }, 1
end

local function on_invoked_result(dir)
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
        set_suggestion(st, st.cands[idx], row, col)
        return
      end
    end
    table.insert(st.cands, cand)
    st.cand_index = #st.cands
    set_suggestion(st, cand, row, col)
  end
end

local function usable(st)
  return api.nvim_buf_is_valid(st.bufnr) and api.nvim_get_current_buf() == st.bufnr and in_insert()
end

--- The automatic request after a change (scheduled, one per batch of events).
local function auto_request(st)
  st.req_scheduled = false
  if not usable(st) then
    return
  end
  if vim.fn.pumvisible() == 1 then
    cancel(st)
    return
  end
  if cfg().auto_trigger and not st.disabled and M.enabled_for(st.bufnr) then
    request(st, TRIGGER_AUTOMATIC, on_auto_result)
  else
    cancel(st)
  end
end

--- After an edit or a cursor move. Runs inside the autocommand, before the
--- screen is redrawn, so a typed-through suggestion is trimmed in the same
--- frame (no flicker) and a stale one never shows shifted.
local function on_change(st)
  if not usable(st) then
    return
  end
  local row, col = cursor()
  local tick = api.nvim_buf_get_changedtick(st.bufnr)
  local last = st.last
  if tick ~= last.tick then
    if continues(st, row, col) then
      render(st)
    else
      clear(st)
    end
  elseif row ~= last.row or col ~= last.col then
    clear(st)
  else
    return
  end
  st.last = { tick = tick, row = row, col = col }
  if not st.req_scheduled then
    st.req_scheduled = true
    vim.schedule(function()
      auto_request(st)
    end)
  end
end

local function schedule_change(st)
  vim.schedule(function()
    on_change(st)
  end)
end

function M.enabled_for(bufnr)
  if not cfg().enabled or vim.b[bufnr].deepseek_disabled then
    return false
  end
  local ft = vim.bo[bufnr].filetype
  return not vim.tbl_contains(cfg().disabled_filetypes or {}, ft)
end

--- Start ghost text in a buffer the client attached to.
function M.attach(client, bufnr)
  if states[bufnr] then
    states[bufnr].client_id = client.id
    return
  end
  local st = {
    bufnr = bufnr,
    client_id = client.id,
    seq = 0,
    consumed = 0,
    cover = '',
    shown = {},
    cands = {},
    cand_index = 0,
    last = { tick = -1, row = -1, col = -1 },
    req_scheduled = false,
    prefix = '',
    row = 0,
    col = 0,
  }
  states[bufnr] = st
  local group = api.nvim_create_augroup('deepseek_ls.ghost.' .. bufnr, { clear = true })
  st.group = group
  api.nvim_create_autocmd({ 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      on_change(st)
    end,
  })
  api.nvim_create_autocmd('CompleteDone', {
    group = group,
    buffer = bufnr,
    callback = function()
      schedule_change(st)
    end,
  })
  api.nvim_create_autocmd({ 'CompleteChanged', 'TextChangedP' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      hide(st)
    end,
  })
  -- entering Insert mode asks too (like Neovim 0.12's built-in client): the
  -- first on_change after it sees a "change" and requests
  api.nvim_create_autocmd('InsertEnter', {
    group = group,
    buffer = bufnr,
    callback = function()
      st.last = { tick = -1, row = -1, col = -1 }
      schedule_change(st)
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      cancel(st)
      clear(st)
    end,
  })
end

function M.detach(bufnr)
  local st = states[bufnr]
  if not st then
    return
  end
  cancel(st)
  clear(st)
  pcall(api.nvim_del_augroup_by_id, st.group)
  states[bufnr] = nil
end

--- Is a suggestion on screen in the current buffer?
function M.visible(bufnr)
  local st = state(bufnr)
  return st ~= nil and st.extmark ~= nil and remaining(st) ~= ''
end

--- The text still to be inserted (what the ghost text shows), or nil.
function M.current_text(bufnr)
  local st = state(bufnr)
  if st and st.extmark then
    return remaining(st)
  end
end

--- The next word of s: leading blanks/newlines plus a run of word characters
--- or a run of other non-blank characters.
local function next_word(s)
  local ws = s:match('^%s*') or ''
  local rest = s:sub(#ws + 1)
  local w = rest:match('^[%w_\128-\255]+') or rest:match('^[^%w_\128-\255%s]+') or ''
  return ws .. w
end
M._next_word = next_word

--- The rest of the current line of s, or (at a line end) the newline plus the next line.
local function next_line(s)
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
M._next_line = next_line

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

---@param how 'all'|'word'|'line'
---@return boolean accepted
function M.accept(how)
  local st = state()
  if not st or not st.extmark then
    return false
  end
  local rem = remaining(st)
  if rem == '' then
    return false
  end
  local row, col = cursor()
  if row ~= st.row or col ~= st.col then
    clear(st)
    return false
  end
  local piece = rem
  if how == 'word' then
    piece = next_word(rem)
  elseif how == 'line' then
    piece = next_line(rem)
  end
  if piece == '' then
    piece = rem
  end
  cancel(st)
  local client = client_of(st)
  local item, id = st.item, st.id
  local cover = st.cover or ''
  if cover ~= '' and api.nvim_get_current_line():sub(col + 1, col + #cover) ~= cover then
    cover = ''
  end
  if #piece >= #rem then
    -- full accept: the covered closers go
    hide(st)
    insert(st, piece, #cover)
    clear(st)
    if client and item and item.command then
      util.request(client, 'workspace/executeCommand', {
        command = item.command.command,
        arguments = item.command.arguments,
      }, function() end, st.bufnr)
    end
    return true
  end
  -- partial accept: replaces the closers the piece writes, keeps the others
  local n = covered(piece, cover)
  local nrow, ncol = insert(st, piece, n)
  st.cover = cover:sub(n + 1)
  st.consumed = st.consumed + #piece
  anchor(st, nrow, ncol)
  render(st)
  if client and id ~= nil then
    local accepted = (st.base or '') .. st.text:sub(1, st.consumed)
    util.notify(client, 'deepseek/didPartiallyAcceptCompletion', {
      id = id,
      acceptedLength = util.utf16_len(accepted),
    })
  end
  return true
end

--- Hide the suggestion (until the next edit).
function M.dismiss()
  local st = state()
  if not st then
    return false
  end
  local was = st.extmark ~= nil
  cancel(st)
  clear(st)
  return was
end

--- Ask for a suggestion now (triggerKind Invoked); with one on screen,
--- go to the next (dir=1) or previous (dir=-1) one.
function M.cycle(dir)
  local st = state()
  if not st then
    return false
  end
  dir = dir or 1
  if dir < 0 and #st.cands > 1 and st.extmark then
    local row, col = cursor()
    st.cand_index = ((st.cand_index - 2) % #st.cands) + 1
    set_suggestion(st, st.cands[st.cand_index], row, col)
    return true
  end
  if not (st.extmark and st.row == select(1, cursor())) then
    st.cands, st.cand_index = {}, 0
  end
  request(st, TRIGGER_INVOKED, on_invoked_result(dir))
  return true
end

--- Automatic request now (as if the user typed), for tests and mappings.
function M.trigger()
  local st = state()
  if st then
    request(st, TRIGGER_AUTOMATIC, on_auto_result)
  end
end

--- Enable/disable automatic suggestions in a buffer (nil: toggle).
function M.set_buffer_enabled(bufnr, enabled)
  local st = state(bufnr)
  if not st then
    return
  end
  if enabled == nil then
    enabled = st.disabled
  end
  st.disabled = not enabled
  if st.disabled then
    cancel(st)
    clear(st)
  end
end

return M
