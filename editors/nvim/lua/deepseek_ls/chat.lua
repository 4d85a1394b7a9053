-- :DeepSeekChat / :DeepSeekExplain: a Markdown scratch buffer that streams
-- the answer from deepseek/chatStream notifications. Reasoning goes in a
-- closed fold; follow-ups reuse the buffer's session.
local config = require('deepseek_ls.config')
local util = require('deepseek_ls.util')
local status = require('deepseek_ls.status')

local api = vim.api
local M = {}

---@class deepseek_ls.Chat
---@field bufnr integer
---@field session string|nil
---@field busy boolean
---@field mode 'reasoning'|'content'|nil   section being streamed into
---@field ranges {[1]: integer, [2]: integer|nil}[] reasoning line ranges (1-based, inclusive; open while streaming)
---@field exchange integer

local chats = {} ---@type table<integer, deepseek_ls.Chat>
local streams = {} ---@type table<string, {chat: deepseek_ls.Chat, exchange: integer, got: boolean, done: boolean}>
M._chats = chats
M._streams = streams
M.current = nil ---@type integer|nil  bufnr of the most recent chat

local counter = 0
local REASONING_PREFIX = '> '

local function valid(chat)
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
local function add_lines(chat, lines)
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
local function append(chat, text, prefix)
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

local function last_line(chat)
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
local function section(chat, mode)
  if chat.mode == mode then
    return
  end
  if mode == 'reasoning' then
    local n, line = last_line(chat)
    if line ~= '' then
      add_lines(chat, { '' })
      n = n + 1
    end
    edit(chat, function(buf)
      api.nvim_buf_set_lines(buf, n - 1, n, false, { REASONING_PREFIX })
    end)
    table.insert(chat.ranges, { n, nil })
    refold(chat)
  else
    if chat.mode == 'reasoning' then
      local n = last_line(chat)
      chat.ranges[#chat.ranges][2] = n
      add_lines(chat, { '', '' })
      refold(chat)
    end
  end
  chat.mode = mode
end

--- 'foldexpr': reasoning ranges are folded.
function M.foldexpr(lnum)
  local chat = chats[api.nvim_get_current_buf()]
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
  local chat = chats[api.nvim_get_current_buf()]
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

local function new_chat()
  counter = counter + 1
  local buf = api.nvim_create_buf(false, true)
  pcall(api.nvim_buf_set_name, buf, 'deepseek://chat/' .. counter)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].modifiable = false
  local chat = { bufnr = buf, session = nil, busy = false, mode = nil, ranges = {}, exchange = 0 }
  chats[buf] = chat
  local function map(lhs, fn, desc)
    vim.keymap.set('n', lhs, fn, { buffer = buf, nowait = true, desc = 'DeepSeek: ' .. desc })
  end
  map('q', function()
    pcall(vim.cmd, 'close')
  end, 'close chat')
  map('<CR>', function()
    M.prompt_followup(buf)
  end, 'follow-up question')
  map('i', function()
    M.prompt_followup(buf)
  end, 'follow-up question')
  map('<C-c>', function()
    M.cancel(buf)
  end, 'cancel answer')
  api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      chats[buf] = nil
      if M.current == buf then
        M.current = nil
      end
    end,
  })
  return chat
end

--- Show the chat buffer (reusing a window of the tab that shows it).
local function show(chat)
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
local function begin_exchange(chat, heading, body)
  chat.exchange = chat.exchange + 1
  chat.mode = nil
  local lines = {}
  local n, line = last_line(chat)
  if not (n == 1 and line == '') then
    vim.list_extend(lines, { '', '---', '' })
  end
  lines[#lines + 1] = heading
  lines[#lines + 1] = ''
  vim.list_extend(lines, body)
  vim.list_extend(lines, { '', '## DeepSeek', '', '' })
  add_lines(chat, lines)
end

local stream_counter = 0
local function new_stream_id()
  stream_counter = stream_counter + 1
  return string.format('nvim-%d-%d', vim.fn.getpid(), stream_counter)
end

local function finish(st, err, result)
  if st.done then
    return
  end
  st.done = true
  local chat = st.chat
  chat.busy = false
  status.set_busy(-1)
  if not valid(chat) then
    return
  end
  if not err then
    chat.cancelling = false
  end
  if result and result.session then
    chat.session = result.session
  end
  if err then
    section(chat, 'content')
    local n, line = last_line(chat)
    if line ~= '' then
      add_lines(chat, { '' })
    end
    local msg = tostring(err)
    if chat.cancelling or msg:match('^[Cc]ancel') or msg:match('cancelled') then
      append(chat, '_(cancelled)_', '')
    else
      append(chat, '**Error:** ' .. msg, '')
    end
    chat.cancelling = false
    return
  end
  if not st.got and result then
    -- the server did not stream: show the final result
    if type(result.reasoning) == 'string' and result.reasoning ~= '' then
      section(chat, 'reasoning')
      append(chat, result.reasoning, REASONING_PREFIX)
    end
    section(chat, 'content')
    append(chat, result.content or '', '')
  end
  if chat.mode == 'reasoning' then
    section(chat, 'content')
  end
end

--- The server went away: end the answers still running.
function M.on_server_exit()
  for id, st in pairs(streams) do
    finish(st, 'deepseek-ls stopped', nil)
    streams[id] = nil
  end
end

--- Handler of the deepseek/chatStream notification.
function M.on_stream(params)
  if type(params) ~= 'table' or not params.stream then
    return
  end
  local st = streams[params.stream]
  if not st or st.done then
    return
  end
  local chat = st.chat
  if not valid(chat) then
    return
  end
  if params.session then
    chat.session = params.session
  end
  local ev = params.event
  if ev == 'reasoning' then
    st.got = true
    section(chat, 'reasoning')
    append(chat, params.text, REASONING_PREFIX)
  elseif ev == 'content' then
    st.got = true
    section(chat, 'content')
    append(chat, params.text, '')
  elseif ev == 'done' then
    finish(st, nil, params.result)
  elseif ev == 'error' then
    finish(st, params.message or 'error', nil)
  end
end

local function get_chat(opts)
  if not opts.new and opts.chat and valid(chats[opts.chat]) then
    return chats[opts.chat]
  end
  if not opts.new and M.current and valid(chats[M.current]) then
    return chats[M.current]
  end
  return new_chat()
end

local function client_for(bufnr)
  local client = util.get_client(bufnr) or util.get_client(nil)
  if not client then
    util.info('deepseek-ls is not running (call require("deepseek_ls").setup())', vim.log.levels.ERROR)
  end
  return client
end

--- Send a chat/explain command and stream the answer into `chat`.
local function run(chat, client, command, arg, src_bufnr)
  local stream = new_stream_id()
  arg.stream = stream
  if chat.session and arg.session == nil then
    arg.session = chat.session
  end
  local st = { chat = chat, exchange = chat.exchange, got = false, done = false }
  streams[stream] = st
  chat.busy = true
  status.set_busy(1)
  util.execute(client, command, arg, function(err, result)
    vim.schedule(function()
      if err then
        finish(st, err.message or vim.inspect(err), nil)
      else
        finish(st, nil, result)
      end
      streams[stream] = nil
    end)
  end, src_bufnr)
end

--- Selected range of a command (visual char-wise when the marks match, else lines).
---@return table lsp range, string[] text
function M.command_range(bufnr, line1, line2, encoding)
  local lines = api.nvim_buf_get_lines(bufnr, line1 - 1, line2, false)
  local scol, ecol = 0, #(lines[#lines] or '')
  local vs, ve = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  if
    vim.fn.visualmode() == 'v'
    and api.nvim_get_current_buf() == bufnr
    and vs[2] == line1
    and ve[2] == line2
  then
    scol = vs[3] - 1
    local last = lines[#lines] or ''
    -- '> is inclusive: end after the (multibyte) character under it
    local ch = vim.fn.strpart(last, ve[3] - 1, 1, true)
    ecol = math.min(#last, ve[3] - 1 + math.max(#ch, 1))
    if #lines == 1 then
      lines[1] = last:sub(scol + 1, ecol)
    else
      lines[#lines] = last:sub(1, ecol)
      lines[1] = lines[1]:sub(scol + 1)
    end
  end
  local first_full = api.nvim_buf_get_lines(bufnr, line1 - 1, line1, false)[1] or ''
  local last_full = api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
  local range = {
    start = { line = line1 - 1, character = util.enc_len(first_full:sub(1, scol), encoding) },
    ['end'] = { line = line2 - 1, character = util.enc_len(last_full:sub(1, ecol), encoding) },
  }
  return range, lines
end

local function fenced(bufnr, lines)
  local ft = vim.bo[bufnr].filetype
  local out = { '```' .. ft }
  vim.list_extend(out, lines)
  out[#out + 1] = '```'
  return out
end

---@class deepseek_ls.ChatOpts
---@field new? boolean start a new session
---@field chat? integer chat buffer to continue
---@field bufnr? integer source buffer
---@field line1? integer
---@field line2? integer
---@field range? integer number of range items given to the command (0, 1, 2)

--- Ask a question (follow-up in the current chat unless opts.new).
---@param message string
---@param opts? deepseek_ls.ChatOpts
function M.chat(message, opts)
  opts = opts or {}
  if not message or message:match('^%s*$') then
    vim.ui.input({ prompt = 'DeepSeek: ' }, function(input)
      if input and input ~= '' then
        M.chat(input, opts)
      end
    end)
    return
  end
  local src = opts.bufnr or api.nvim_get_current_buf()
  local client = client_for(src)
  if not client then
    return
  end
  local chat = get_chat(opts)
  if chat.busy then
    util.info('still answering; :DeepSeekCancel first', vim.log.levels.WARN)
    return
  end
  M.current = chat.bufnr
  local arg = { message = message }
  local body = vim.split(message, '\n', { plain = true })
  if not chats[src] and vim.bo[src].buftype == '' and (opts.range or 0) > 0 and opts.line1 then
    local range, lines = M.command_range(src, opts.line1, opts.line2 or opts.line1, util.offset_encoding(client))
    arg.uri = vim.uri_from_bufnr(src)
    arg.range = range
    body[#body + 1] = ''
    vim.list_extend(body, fenced(src, lines))
  end
  show(chat)
  begin_exchange(chat, '## You', body)
  run(chat, client, 'deepseek.chat', arg, src)
  return chat.bufnr
end

--- Explain the lines line1..line2 of bufnr (a new session unless opts.new == false).
---@param opts deepseek_ls.ChatOpts
function M.explain(opts)
  opts = opts or {}
  local src = opts.bufnr or api.nvim_get_current_buf()
  if chats[src] then
    util.info('run :DeepSeekExplain in a source buffer', vim.log.levels.WARN)
    return
  end
  local client = client_for(src)
  if not client then
    return
  end
  local line1 = opts.line1 or vim.fn.line("'<")
  local line2 = opts.line2 or vim.fn.line("'>")
  if line1 < 1 then
    line1, line2 = api.nvim_win_get_cursor(0)[1], api.nvim_win_get_cursor(0)[1]
  end
  local range, lines = M.command_range(src, line1, line2, util.offset_encoding(client))
  local chat = get_chat({ new = opts.new ~= false, chat = opts.chat })
  if chat.busy then
    util.info('still answering; :DeepSeekCancel first', vim.log.levels.WARN)
    return
  end
  M.current = chat.bufnr
  local name = vim.fn.fnamemodify(api.nvim_buf_get_name(src), ':~:.')
  if name == '' then
    name = '[No Name]'
  end
  local heading = string.format('## Explain `%s` %s', name, line1 == line2 and ('line ' .. line1) or ('lines ' .. line1 .. '-' .. line2))
  show(chat)
  begin_exchange(chat, heading, fenced(src, lines))
  run(chat, client, 'deepseek.explainSelection', { uri = vim.uri_from_bufnr(src), range = range }, src)
  return chat.bufnr
end

function M.prompt_followup(buf)
  local chat = chats[buf or api.nvim_get_current_buf()]
  if not chat then
    return
  end
  vim.ui.input({ prompt = 'Follow-up: ' }, function(input)
    if input and input ~= '' then
      M.chat(input, { chat = chat.bufnr })
    end
  end)
end

--- Cancel: the session of the given chat buffer, else everything.
function M.cancel(buf)
  local client = util.any_client()
  if not client then
    return
  end
  local arg = vim.empty_dict()
  local chat = buf and chats[buf]
  if chat and chat.session then
    arg = { session = chat.session }
  end
  for _, c in pairs(chats) do
    if c.busy and (not chat or c == chat) then
      c.cancelling = true
    end
  end
  util.execute(client, 'deepseek.cancel', arg, function(err, result)
    vim.schedule(function()
      if err then
        util.info('cancel failed: ' .. tostring(err.message), vim.log.levels.WARN)
      else
        util.info(('cancelled %s'):format(result and result.cancelled or 0))
      end
    end)
  end)
end

return M
