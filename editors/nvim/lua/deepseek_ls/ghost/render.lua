-- Ghost text, part 2 of 4: drawing the suggestion with one extmark (inline
-- virt_text for the rest of the first line + virt_lines for the others) and
-- reporting it as shown (deepseek/didShowCompletion, once per id).
--
-- While covered closers are right after the cursor the suggestion is drawn as
-- an overlay over them (and the rest of the line redrawn after it), so `)` is
-- not shown twice.
local config = require('deepseek_ls.config')
local util = require('deepseek_ls.util')
local S = require('deepseek_ls.ghost.state')

local api = vim.api
local M = {}

--- Text as drawn: tabs expanded to 'tabstop' spaces.
local function display(s, bufnr)
  if s:find('\t', 1, true) then
    s = s:gsub('\t', string.rep(' ', vim.bo[bufnr].tabstop))
  end
  return s
end

--- Extmark options for the suggestion `rem` at st.col of `line`, with the
--- covered closers `cover` (may be '') right after it.
local function mark_opts(st, line, rem, cover)
  local hl = config.options.ghost_text.hl_group
  local lines = vim.split(rem, '\n', { plain = true })
  local opts = {
    id = st.extmark,
    virt_text_pos = 'inline',
    hl_mode = 'combine',
    priority = 300,
    right_gravity = true,
  }
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
  return opts
end

--- Draw (or redraw in place) the rest of the suggestion; hidden while the
--- completion menu is open.
function M.render(st)
  local rem = S.remaining(st)
  if rem == '' or vim.fn.pumvisible() == 1 then
    S.hide(st)
    return
  end
  local line = api.nvim_buf_get_lines(st.bufnr, st.row, st.row + 1, false)[1]
  if not line or #line < st.col then
    S.clear(st)
    return
  end
  local cover = st.cover or ''
  if cover ~= '' and line:sub(st.col + 1, st.col + #cover) ~= cover then
    st.cover, cover = '', ''
  end
  local ok, id = pcall(api.nvim_buf_set_extmark, st.bufnr, S.ns, st.row, st.col, mark_opts(st, line, rem, cover))
  if not ok then
    S.clear(st)
    return
  end
  st.extmark = id
  if st.id ~= nil and not st.shown[st.id] then
    st.shown[st.id] = true
    local client = S.client_of(st)
    if client then
      util.notify(client, 'deepseek/didShowCompletion', { id = st.id })
    end
  end
end

--- Make `cand` ({item, text, base, cover, id}) the suggestion, anchored at (row, col).
function M.set_suggestion(st, cand, row, col)
  st.item, st.text, st.base, st.id, st.consumed = cand.item, cand.text, cand.base, cand.id, 0
  st.cover = cand.cover or ''
  S.anchor(st, row, col)
  M.render(st)
end

return M
