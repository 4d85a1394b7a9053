-- Ghost text, part 1 of 4: the per-buffer suggestion state and the small
-- operations every other part uses (cursor, remaining text, hide / clear,
-- cancel the request in flight, anchor at the cursor).
--
-- Covered closers: an item's range may end after the cursor on the cursor
-- line (`def area(|)` + `width: float) -> float:` with the range over the
-- `)` an auto-pair inserted). Those bytes (state.cover) stay right after the
-- cursor until accepted (see accept.lua); while they are there the
-- suggestion is drawn over them (see render.lua).
local util = require('deepseek_ls.util')

local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('deepseek_ls.ghost')

M.TRIGGER_INVOKED, M.TRIGGER_AUTOMATIC = 1, 2

---@class deepseek_ls.GhostState
---@field bufnr integer
---@field client_id integer
---@field seq integer          request sequence number (responses of older ones are dropped)
---@field req_id integer|nil   in-flight request id (cancelled when a new one starts)
---@field text string|nil      suggestion text (from the anchor position the server was asked at)
---@field base string|nil      part of the item's text that was already typed before the anchor
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
---@field group integer|nil    autocommand group of the buffer

---@type table<integer, deepseek_ls.GhostState>
M.states = {}

--- A fresh state for a buffer the client attached to.
function M.new(bufnr, client_id)
  return {
    bufnr = bufnr,
    client_id = client_id,
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
end

---@return deepseek_ls.GhostState|nil
function M.get(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  return M.states[bufnr]
end

--- 0-based row and byte column of the cursor.
function M.cursor()
  local c = api.nvim_win_get_cursor(0)
  return c[1] - 1, c[2]
end

function M.in_insert()
  return api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

--- The part of the suggestion not yet in the buffer.
function M.remaining(st)
  if not st.text then
    return ''
  end
  return st.text:sub(st.consumed + 1)
end

function M.client_of(st)
  return vim.lsp.get_client_by_id(st.client_id)
end

--- Remove the extmark (the suggestion is kept).
function M.hide(st)
  if st.extmark then
    pcall(api.nvim_buf_del_extmark, st.bufnr, M.ns, st.extmark)
    st.extmark = nil
  end
end

--- Forget the suggestion and remove its text.
function M.clear(st)
  M.hide(st)
  st.text, st.item, st.id, st.consumed, st.cover = nil, nil, nil, 0, ''
  st.cands, st.cand_index = {}, 0
end

--- Cancel the request in flight; answers of earlier requests are dropped.
function M.cancel(st)
  if st.req_id then
    local client = M.client_of(st)
    if client then
      pcall(util.cancel, client, st.req_id)
    end
    st.req_id = nil
  end
  st.seq = st.seq + 1
end

--- Anchor the suggestion at the cursor.
function M.anchor(st, row, col)
  local line = api.nvim_get_current_line()
  st.row, st.col, st.prefix = row, col, line:sub(1, col)
end

--- Still a valid continuation after an edit? Trims what was typed through.
function M.continues(st, row, col)
  if not st.text or row ~= st.row or col < st.col then
    return false
  end
  local line = api.nvim_get_current_line()
  if line:sub(1, st.col) ~= st.prefix then
    return false
  end
  local typed = line:sub(st.col + 1, col)
  local rem = M.remaining(st)
  if #typed >= #rem or rem:sub(1, #typed) ~= typed then
    return false
  end
  st.consumed = st.consumed + #typed
  M.anchor(st, row, col)
  local cover = st.cover or ''
  if cover ~= '' and line:sub(col + 1, col + #cover) ~= cover then
    st.cover = '' -- the closers are gone (typed over): nothing left to replace
  end
  return true
end

return M
