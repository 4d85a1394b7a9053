-- Ghost text (inline completion) for Neovim 0.10 / 0.11: the plugin's own
-- extmark renderer. On 0.12+ (vim.lsp.inline_completion) see native.lua.
--
-- Life of a suggestion:
--   InsertEnter / TextChangedI / CursorMovedI -> (coalesced) on_change -> request
--   response -> state.text, anchored at the cursor -> render (one extmark)
--   typing the next characters of the suggestion keeps it (trimmed in place,
--   no clear/redraw); any other edit or cursor move clears it.
--
-- The parts, one job each:
--   ghost/state.lua    per-buffer state: cursor, remaining text, clear, cancel, anchor
--   ghost/render.lua   the extmark (inline / overlay over covered closers, virtual lines)
--   ghost/request.lua  textDocument/inlineCompletion and what its answers do
--   ghost/accept.lua   accept all / word / line
--   this file          the autocommands of a buffer and the public functions
local config = require('deepseek_ls.config')
local S = require('deepseek_ls.ghost.state')
local R = require('deepseek_ls.ghost.render')
local Q = require('deepseek_ls.ghost.request')
local A = require('deepseek_ls.ghost.accept')

local api = vim.api
local M = {}

M.ns = S.ns
M._states = S.states
M.state = S.get
M._next_word = A.next_word
M._next_line = A.next_line
M._covered = A.covered
M.accept = A.accept

local function cfg()
  return config.options.ghost_text
end

function M.enabled_for(bufnr)
  if not cfg().enabled or vim.b[bufnr].deepseek_disabled then
    return false
  end
  local ft = vim.bo[bufnr].filetype
  return not vim.tbl_contains(cfg().disabled_filetypes or {}, ft)
end

local function usable(st)
  return api.nvim_buf_is_valid(st.bufnr) and api.nvim_get_current_buf() == st.bufnr and S.in_insert()
end

--- The automatic request after a change (scheduled, one per batch of events).
local function auto_request(st)
  st.req_scheduled = false
  if not usable(st) then
    return
  end
  if vim.fn.pumvisible() == 1 then
    S.cancel(st)
    return
  end
  if cfg().auto_trigger and not st.disabled and M.enabled_for(st.bufnr) then
    Q.automatic(st)
  else
    S.cancel(st)
  end
end

--- After an edit or a cursor move. Runs inside the autocommand, before the
--- screen is redrawn, so a typed-through suggestion is trimmed in the same
--- frame (no flicker) and a stale one never shows shifted.
local function on_change(st)
  if not usable(st) then
    return
  end
  local row, col = S.cursor()
  local tick = api.nvim_buf_get_changedtick(st.bufnr)
  local last = st.last
  if tick ~= last.tick then
    if S.continues(st, row, col) then
      R.render(st)
    else
      S.clear(st)
    end
  elseif row ~= last.row or col ~= last.col then
    S.clear(st)
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

local function autocmds(st)
  local bufnr = st.bufnr
  local group = api.nvim_create_augroup('deepseek_ls.ghost.' .. bufnr, { clear = true })
  st.group = group
  local function on(events, fn)
    api.nvim_create_autocmd(events, { group = group, buffer = bufnr, callback = fn })
  end
  on({ 'TextChangedI', 'CursorMovedI' }, function()
    on_change(st)
  end)
  on('CompleteDone', function()
    schedule_change(st)
  end)
  on({ 'CompleteChanged', 'TextChangedP' }, function()
    S.hide(st)
  end)
  -- entering Insert mode asks too (like Neovim 0.12's built-in client): the
  -- first on_change after it sees a "change" and requests
  on('InsertEnter', function()
    st.last = { tick = -1, row = -1, col = -1 }
    schedule_change(st)
  end)
  on({ 'InsertLeave', 'BufLeave' }, function()
    S.cancel(st)
    S.clear(st)
  end)
end

--- Start ghost text in a buffer the client attached to.
function M.attach(client, bufnr)
  if S.states[bufnr] then
    S.states[bufnr].client_id = client.id
    return
  end
  local st = S.new(bufnr, client.id)
  S.states[bufnr] = st
  autocmds(st)
end

function M.detach(bufnr)
  local st = S.states[bufnr]
  if not st then
    return
  end
  S.cancel(st)
  S.clear(st)
  pcall(api.nvim_del_augroup_by_id, st.group)
  S.states[bufnr] = nil
end

--- Is a suggestion on screen in the current buffer?
function M.visible(bufnr)
  local st = S.get(bufnr)
  return st ~= nil and st.extmark ~= nil and S.remaining(st) ~= ''
end

--- The text still to be inserted (what the ghost text shows), or nil.
function M.current_text(bufnr)
  local st = S.get(bufnr)
  if st and st.extmark then
    return S.remaining(st)
  end
end

--- Hide the suggestion (until the next edit).
function M.dismiss()
  local st = S.get()
  if not st then
    return false
  end
  local was = st.extmark ~= nil
  S.cancel(st)
  S.clear(st)
  return was
end

--- Ask for a suggestion now (triggerKind Invoked); with one on screen,
--- go to the next (dir=1) or previous (dir=-1) one.
function M.cycle(dir)
  local st = S.get()
  if not st then
    return false
  end
  dir = dir or 1
  if dir < 0 and #st.cands > 1 and st.extmark then
    local row, col = S.cursor()
    st.cand_index = ((st.cand_index - 2) % #st.cands) + 1
    R.set_suggestion(st, st.cands[st.cand_index], row, col)
    return true
  end
  if not (st.extmark and st.row == select(1, S.cursor())) then
    st.cands, st.cand_index = {}, 0
  end
  Q.invoked(st, dir)
  return true
end

--- Automatic request now (as if the user typed), for tests and mappings.
function M.trigger()
  local st = S.get()
  if st then
    Q.automatic(st)
  end
end

--- Enable/disable automatic suggestions in a buffer (nil: toggle).
function M.set_buffer_enabled(bufnr, enabled)
  local st = S.get(bufnr)
  if not st then
    return
  end
  if enabled == nil then
    enabled = st.disabled
  end
  st.disabled = not enabled
  if st.disabled then
    S.cancel(st)
    S.clear(st)
  end
end

return M
