-- Chat, part 1 of 3: the chat buffer and its window. A Markdown scratch
-- buffer per chat; text is appended at the end (windows whose cursor is on
-- the last line follow it); reasoning goes in '> ' lines inside a closed fold.
local config = require('deepseek_ls.config')

local api = vim.api
local M = {}

---@class deepseek_ls.Chat
---@field bufnr integer
---@field session string|nil
---@field busy boolean
---@field cancelling boolean|nil a cancel was asked for while busy
---@field mode 'reasoning'|'content'|nil   section being streamed into
---@field ranges {[1]: integer, [2]: integer|nil}[] reasoning line ranges (1-based, inclusive; open while streaming)
---@field exchange integer

---@type table<integer, deepseek_ls.Chat>
M.chats = {}
M.current = nil ---@type integer|nil  bufnr of the most recent chat

M.REASONING_PREFIX = '> '

local counter = 0

function M.valid(chat)
  return chat and api.nvim_buf_is_valid(chat.bufnr)
end

--- Run fn with the chat buffer modifiable.
local function edit(chat, fn)
  local buf = chat.bufnr
  vim.bo[buf].modifiable = true
  local ok, err = pcall(fn, buf)
  vim.bo[buf].modifiable = false
  if not ok then
    error(err)
  end
end

--- Windows showing the buffer whose cursor is on the last line follow the output.
local function followers(chat)
  local wins = {}
  local last = api.nvim_buf_line_count(chat.bufnr)
  for _, win in ipairs(vim.fn.win_findbuf(chat.bufnr)) do
    local row = api.nvim_win_get_cursor(win)[1]
    if row >= last - 1 or win ~= api.nvim_get_current_win() then
      wins[#wins + 1] = win
    end
  end
  return wins
end

local function follow(wins, chat)
  local last = api.nvim_buf_line_count(chat.bufnr)
  for _, win in ipairs(wins) do
    if api.nvim_win_is_valid(win) then
      pcall(api.nvim_win_set_cursor, win, { last, 0 })
    end
  end
end

--- Append lines after the last line.
function M.add_lines(chat, lines)
  local wins = followers(chat)
  edit(chat, function(buf)
    local n = api.nvim_buf_line_count(buf)
    local first = api.nvim_buf_get_lines(buf, 0, 1, false)[1]
    if n == 1 and first == '' then
      api.nvim_buf_set_lines(buf, 0, 1, false, lines)
    else
      api.nvim_buf_set_lines(buf, n, n, false, lines)
    end
  end)
  follow(wins, chat)
end

--- Append streamed text to the last line; new lines get `prefix`.
function M.append(chat, text, prefix)
  if text == nil or text == '' then
    return
  end
  text = text:gsub('\r\n', '\n')
  local wins = followers(chat)
  edit(chat, function(buf)
    local n = api.nvim_buf_line_count(buf)
    local last = api.nvim_buf_get_lines(buf, n - 1, n, false)[1] or ''
    local parts = vim.split(text, '\n', { plain = true })
    parts[1] = last .. parts[1]
    for i = 2, #parts do
      parts[i] = prefix .. parts[i]
    end
    api.nvim_buf_set_lines(buf, n - 1, n, false, parts)
  end)
  follow(wins, chat)
end

--- Number and text of the last line.
function M.last_line(chat)
  local n = api.nvim_buf_line_count(chat.bufnr)
  return n, api.nvim_buf_get_lines(chat.bufnr, n - 1, n, false)[1] or ''
end

local function refold(chat)
  for _, win in ipairs(vim.fn.win_findbuf(chat.bufnr)) do
    api.nvim_win_call(win, function()
      pcall(vim.cmd, 'silent! normal! zx')
    end)
  end
end

--- Switch the streamed section to reasoning or content.
function M.section(chat, mode)
  if chat.mode == mode then
    return
  end
  if mode == 'reasoning' then
    local n, line = M.last_line(chat)
    if line ~= '' then
      M.add_lines(chat, { '' })
      n = n + 1
    end
    edit(chat, function(buf)
      api.nvim_buf_set_lines(buf, n - 1, n, false, { M.REASONING_PREFIX })
    end)
    table.insert(chat.ranges, { n, nil })
    refold(chat)
  else
    if chat.mode == 'reasoning' then
      local n = M.last_line(chat)
      chat.ranges[#chat.ranges][2] = n
      M.add_lines(chat, { '', '' })
      refold(chat)
    end
  end
  chat.mode = mode
end

--- 'foldexpr': reasoning ranges are folded.
function M.foldexpr(lnum)
  local chat = M.chats[api.nvim_get_current_buf()]
  if not chat then
    return 0
  end
  lnum = lnum or vim.v.lnum
  for _, r in ipairs(chat.ranges) do
    if lnum >= r[1] and (r[2] == nil or lnum <= r[2]) then
      return 1
    end
  end
  return 0
end

function M.foldtext()
  local n = vim.v.foldend - vim.v.foldstart + 1
  local chat = M.chats[api.nvim_get_current_buf()]
  local open = false
  if chat then
    local r = chat.ranges[#chat.ranges]
    open = r and r[2] == nil and vim.v.foldstart >= r[1]
  end
  return string.format('▸ reasoning (%d line%s)%s', n, n == 1 and '' or 's', open and ' …' or '')
end

local function setup_window(win)
  local wo = vim.wo[win]
  wo.wrap = true
  wo.linebreak = true
  wo.number = false
  wo.relativenumber = false
  wo.signcolumn = 'no'
  wo.foldmethod = 'expr'
  wo.foldexpr = "v:lua.require'deepseek_ls.chat'.foldexpr(v:lnum)"
  wo.foldtext = "v:lua.require'deepseek_ls.chat'.foldtext()"
  wo.foldenable = true
  wo.foldlevel = 0
  wo.conceallevel = 2
  wo.fillchars = 'fold: '
end

--- A new chat buffer; `keys` maps the buffer's Normal-mode keys
--- ({lhs, fn(bufnr), desc} list: follow-up, cancel).
---@return deepseek_ls.Chat
function M.new(keys)
  counter = counter + 1
  local buf = api.nvim_create_buf(false, true)
  pcall(api.nvim_buf_set_name, buf, 'deepseek://chat/' .. counter)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].modifiable = false
  local chat = { bufnr = buf, session = nil, busy = false, mode = nil, ranges = {}, exchange = 0 }
  M.chats[buf] = chat
  vim.keymap.set('n', 'q', function()
    pcall(vim.cmd, 'close')
  end, { buffer = buf, nowait = true, desc = 'DeepSeek: close chat' })
  for _, k in ipairs(keys or {}) do
    vim.keymap.set('n', k[1], function()
      k[2](buf)
    end, { buffer = buf, nowait = true, desc = 'DeepSeek: ' .. k[3] })
  end
  api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      M.chats[buf] = nil
      if M.current == buf then
        M.current = nil
      end
    end,
  })
  return chat
end

--- Show the chat buffer (reusing a window of the tab that shows it).
function M.show(chat)
  local wins = vim.fn.win_findbuf(chat.bufnr)
  local tab = api.nvim_get_current_tabpage()
  for _, w in ipairs(wins) do
    if api.nvim_win_get_tabpage(w) == tab then
      return w
    end
  end
  local opts = config.options.chat or {}
  local from = api.nvim_get_current_win()
  local win
  if opts.split == 'tab' then
    vim.cmd('tab sbuffer ' .. chat.bufnr)
    win = api.nvim_get_current_win()
  elseif opts.split == 'current' then
    api.nvim_win_set_buf(0, chat.bufnr)
    win = api.nvim_get_current_win()
  else
    local horizontal = opts.split == 'horizontal'
    local wopts = { split = horizontal and 'below' or 'right', win = -1 }
    if opts.size then
      wopts[horizontal and 'height' or 'width'] = opts.size
    end
    win = api.nvim_open_win(chat.bufnr, true, wopts)
  end
  setup_window(win)
  if opts.keep_focus and api.nvim_win_is_valid(from) then
    api.nvim_set_current_win(from)
  end
  return win
end

--- Start a new question/answer block.
function M.begin_exchange(chat, heading, body)
  chat.exchange = chat.exchange + 1
  chat.mode = nil
  local lines = {}
  local n, line = M.last_line(chat)
  if not (n == 1 and line == '') then
    vim.list_extend(lines, { '', '---', '' })
  end
  lines[#lines + 1] = heading
  lines[#lines + 1] = ''
  vim.list_extend(lines, body)
  vim.list_extend(lines, { '', '## DeepSeek', '', '' })
  M.add_lines(chat, lines)
end

return M
