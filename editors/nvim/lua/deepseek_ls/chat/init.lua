-- :DeepSeekChat / :DeepSeekExplain: a Markdown scratch buffer that streams
-- the answer from deepseek/chatStream notifications. Reasoning goes in a
-- closed fold; follow-ups reuse the buffer's session.
--
-- The parts, one job each:
--   chat/buffer.lua   the chat buffer and window (append, sections, folds)
--   chat/stream.lua   one answer: the command, its stream, its end
--   this file         the commands: chat, explain, follow-up, cancel
local util = require('deepseek_ls.util')
local B = require('deepseek_ls.chat.buffer')
local stream = require('deepseek_ls.chat.stream')

local api = vim.api
local M = {}

M._chats = B.chats
M._streams = stream.streams
M.foldexpr = B.foldexpr
M.foldtext = B.foldtext
M.on_stream = stream.on_stream
M.on_server_exit = stream.on_server_exit

-- M.current: bufnr of the most recent chat (kept by chat/buffer.lua)
setmetatable(M, {
  __index = function(_, k)
    if k == 'current' then
      return B.current
    end
  end,
})

local function new_chat()
  return B.new({
    { '<CR>', M.prompt_followup, 'follow-up question' },
    { 'i', M.prompt_followup, 'follow-up question' },
    { '<C-c>', M.cancel, 'cancel answer' },
  })
end

local function get_chat(opts)
  if not opts.new and opts.chat and B.valid(B.chats[opts.chat]) then
    return B.chats[opts.chat]
  end
  if not opts.new and B.current and B.valid(B.chats[B.current]) then
    return B.chats[B.current]
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
    start = { line = line1 - 1, character = util.enc_len(first_full, encoding, scol) },
    ['end'] = { line = line2 - 1, character = util.enc_len(last_full, encoding, ecol) },
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
  B.current = chat.bufnr
  local arg = { message = message }
  local body = vim.split(message, '\n', { plain = true })
  if not B.chats[src] and vim.bo[src].buftype == '' and (opts.range or 0) > 0 and opts.line1 then
    local range, lines = M.command_range(src, opts.line1, opts.line2 or opts.line1, util.offset_encoding(client))
    arg.uri = vim.uri_from_bufnr(src)
    arg.range = range
    body[#body + 1] = ''
    vim.list_extend(body, fenced(src, lines))
  end
  B.show(chat)
  B.begin_exchange(chat, '## You', body)
  stream.run(chat, client, 'deepseek.chat', arg, src)
  return chat.bufnr
end

--- Explain the lines line1..line2 of bufnr (a new session unless opts.new == false).
---@param opts deepseek_ls.ChatOpts
function M.explain(opts)
  opts = opts or {}
  local src = opts.bufnr or api.nvim_get_current_buf()
  if B.chats[src] then
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
  B.current = chat.bufnr
  local name = vim.fn.fnamemodify(api.nvim_buf_get_name(src), ':~:.')
  if name == '' then
    name = '[No Name]'
  end
  local heading = string.format('## Explain `%s` %s', name, line1 == line2 and ('line ' .. line1) or ('lines ' .. line1 .. '-' .. line2))
  B.show(chat)
  B.begin_exchange(chat, heading, fenced(src, lines))
  stream.run(chat, client, 'deepseek.explainSelection', { uri = vim.uri_from_bufnr(src), range = range }, src)
  return chat.bufnr
end

function M.prompt_followup(buf)
  local chat = B.chats[buf or api.nvim_get_current_buf()]
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
  local chat = buf and B.chats[buf]
  if chat and chat.session then
    arg = { session = chat.session }
  end
  for _, c in pairs(B.chats) do
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
