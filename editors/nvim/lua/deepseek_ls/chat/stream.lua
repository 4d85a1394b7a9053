-- Chat, part 2 of 3: one answer streaming into a chat buffer. A chat or
-- explain command is sent with a stream id; the server's deepseek/chatStream
-- notifications with that id (reasoning / content deltas, done, error) fill
-- the buffer; the command's response ends the answer (and shows the result
-- when nothing was streamed).
local util = require('deepseek_ls.util')
local status = require('deepseek_ls.status')
local B = require('deepseek_ls.chat.buffer')

local M = {}

---@class deepseek_ls.ChatStream
---@field chat deepseek_ls.Chat
---@field exchange integer
---@field got boolean   a delta arrived
---@field done boolean

---@type table<string, deepseek_ls.ChatStream>
M.streams = {}

local stream_counter = 0
local function new_stream_id()
  stream_counter = stream_counter + 1
  return string.format('nvim-%d-%d', vim.fn.getpid(), stream_counter)
end

--- End the answer: with an error message (err), or with the command's result.
local function finish(st, err, result)
  if st.done then
    return
  end
  st.done = true
  local chat = st.chat
  chat.busy = false
  status.set_busy(-1)
  if not B.valid(chat) then
    return
  end
  if not err then
    chat.cancelling = false
  end
  if result and result.session then
    chat.session = result.session
  end
  if err then
    B.section(chat, 'content')
    local _, line = B.last_line(chat)
    if line ~= '' then
      B.add_lines(chat, { '' })
    end
    local msg = tostring(err)
    if chat.cancelling or msg:match('^[Cc]ancel') or msg:match('cancelled') then
      B.append(chat, '_(cancelled)_', '')
    else
      B.append(chat, '**Error:** ' .. msg, '')
    end
    chat.cancelling = false
    return
  end
  if not st.got and result then
    -- the server did not stream: show the final result
    if type(result.reasoning) == 'string' and result.reasoning ~= '' then
      B.section(chat, 'reasoning')
      B.append(chat, result.reasoning, B.REASONING_PREFIX)
    end
    B.section(chat, 'content')
    B.append(chat, result.content or '', '')
  end
  if chat.mode == 'reasoning' then
    B.section(chat, 'content')
  end
end

--- The server went away: end the answers still running.
function M.on_server_exit()
  for id, st in pairs(M.streams) do
    finish(st, 'deepseek-ls stopped', nil)
    M.streams[id] = nil
  end
end

--- Handler of the deepseek/chatStream notification.
function M.on_stream(params)
  if type(params) ~= 'table' or not params.stream then
    return
  end
  local st = M.streams[params.stream]
  if not st or st.done then
    return
  end
  local chat = st.chat
  if not B.valid(chat) then
    return
  end
  if params.session then
    chat.session = params.session
  end
  local ev = params.event
  if ev == 'reasoning' then
    st.got = true
    B.section(chat, 'reasoning')
    B.append(chat, params.text, B.REASONING_PREFIX)
  elseif ev == 'content' then
    st.got = true
    B.section(chat, 'content')
    B.append(chat, params.text, '')
  elseif ev == 'done' then
    finish(st, nil, params.result)
  elseif ev == 'error' then
    finish(st, params.message or 'error', nil)
  end
end

--- Send a chat/explain command and stream the answer into `chat`.
function M.run(chat, client, command, arg, src_bufnr)
  local stream = new_stream_id()
  arg.stream = stream
  if chat.session and arg.session == nil then
    arg.session = chat.session
  end
  local st = { chat = chat, exchange = chat.exchange, got = false, done = false }
  M.streams[stream] = st
  chat.busy = true
  status.set_busy(1)
  util.execute(client, command, arg, function(err, result)
    vim.schedule(function()
      if err then
        finish(st, err.message or vim.inspect(err), nil)
      else
        finish(st, nil, result)
      end
      M.streams[stream] = nil
    end)
  end, src_bufnr)
end

return M
