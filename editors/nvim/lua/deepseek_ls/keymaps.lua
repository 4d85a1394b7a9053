-- Insert-mode keys for ghost text. Every key acts only when it has something
-- to act on (a suggestion on screen), otherwise it falls through to whatever
-- the key did before (an earlier mapping, or the key itself).
local config = require('deepseek_ls.config')

local api = vim.api
local M = {}

local DESC = 'DeepSeek: '

-- callbacks of earlier non-expr mappings, run through <Cmd> on fall-through
local saved = {}
M._saved = saved

local function tc(s)
  return api.nvim_replace_termcodes(s, true, true, true)
end
M.tc = tc

function M._run_saved(i)
  local fn = saved[i]
  if fn then
    fn()
  end
end

--- What `lhs` did before we mapped it, as keys for an expr mapping.
local function fallback(lhs, prev)
  if not prev or vim.tbl_isempty(prev) then
    return tc(lhs)
  end
  if prev.callback then
    if prev.expr == 1 then
      local r = prev.callback() or ''
      if prev.replace_keycodes == 1 then
        r = tc(r)
      end
      return r
    end
    if not prev._saved then
      saved[#saved + 1] = prev.callback
      prev._saved = #saved
    end
    return tc(('<Cmd>lua require("deepseek_ls.keymaps")._run_saved(%d)<CR>'):format(prev._saved))
  end
  local rhs = prev.rhs or ''
  if prev.expr == 1 then
    local ok, r = pcall(api.nvim_eval, rhs)
    rhs = ok and tostring(r) or ''
  else
    rhs = tc(rhs)
  end
  if prev.noremap == 1 then
    return rhs
  end
  -- the earlier mapping was recursive: feed it with remapping
  api.nvim_feedkeys(rhs, 'im', false)
  return ''
end

-- action name -> handler(fallthrough) returning the keys to run
local function actions()
  local native = require('deepseek_ls.native')
  if native.active() then
    return native.key_actions()
  end
  local ghost = require('deepseek_ls.ghost')
  local function when(pred, lua)
    return function(fallthrough)
      if pred() then
        return tc('<Cmd>lua ' .. lua .. '<CR>')
      end
      return fallthrough()
    end
  end
  local function visible()
    return ghost.visible()
  end
  local function attached()
    return ghost.state() ~= nil
  end
  return {
    accept = when(visible, 'require("deepseek_ls.ghost").accept("all")'),
    accept_word = when(visible, 'require("deepseek_ls.ghost").accept("word")'),
    accept_line = when(visible, 'require("deepseek_ls.ghost").accept("line")'),
    next = when(attached, 'require("deepseek_ls.ghost").cycle(1)'),
    prev = when(attached, 'require("deepseek_ls.ghost").cycle(-1)'),
    dismiss = when(visible, 'require("deepseek_ls.ghost").dismiss()'),
  }
end

--- Map the configured keys in bufnr (buffer-local, Insert mode).
function M.attach(bufnr)
  if vim.b[bufnr].deepseek_keys_mapped then
    return
  end
  vim.b[bufnr].deepseek_keys_mapped = true
  local keys = config.options.keys or {}
  local acts = actions()
  for name, lhs in pairs(keys) do
    local act = acts[name]
    if lhs and lhs ~= '' and act then
      local prev = api.nvim_buf_call(bufnr, function()
        return vim.fn.maparg(lhs, 'i', false, true)
      end)
      if prev and prev.desc and vim.startswith(prev.desc, DESC) then
        prev = nil
      end
      local function fallthrough()
        return fallback(lhs, prev)
      end
      vim.keymap.set('i', lhs, function()
        return act(fallthrough)
      end, { buffer = bufnr, expr = true, replace_keycodes = false, desc = DESC .. name:gsub('_', ' ') })
    end
  end
end

return M
