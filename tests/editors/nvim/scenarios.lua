-- Scenarios for run.lua. Each gets the harness H and records checks.
-- DSLS_EXPECT: the text the fake answers with (FIM for ghost, chat content for explain).
local api = vim.api
local S = {}

local function uv_now()
  return (vim.uv or vim.loop).now()
end

local function expect()
  return os.getenv('DSLS_EXPECT') or ''
end

local function start(H, extra)
  local cmd = vim.json.decode(os.getenv('DSLS_CMD'))
  local opts = vim.tbl_deep_extend('force', {
    cmd = cmd,
    settings = vim.json.decode(os.getenv('DSLS_SETTINGS') or '{}'),
  }, vim.json.decode(os.getenv('DSLS_SETUP') or '{}'), extra or {})
  local enc = os.getenv('DSLS_ENCODING')
  if enc and enc ~= '' then
    -- offer only this position encoding (Neovim 0.11 prefers utf-8)
    local make = vim.lsp.protocol.make_client_capabilities
    vim.lsp.protocol.make_client_capabilities = function(...)
      local caps = make(...)
      caps.general = caps.general or {}
      caps.general.positionEncodings = { enc }
      return caps
    end
  end
  require('deepseek_ls').setup(opts)
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('DSLS_FILE')))
  local buf = api.nvim_get_current_buf()
  local util = require('deepseek_ls.util')
  local client = H.wait(function()
    local c = util.get_client(buf)
    return c and c.initialized and c
  end, 20000, 'client')
  H.check('client attached', client ~= nil)
  if client then
    H.spy(client)
    H.result.offset_encoding = client.offset_encoding
    H.result.offered_encodings = client.capabilities and client.capabilities.general and client.capabilities.general.positionEncodings
  end
  return client, buf
end

local function line(n)
  return api.nvim_buf_get_lines(0, n - 1, n, false)[1]
end

local function ghost_mark(buf)
  local ghost = require('deepseek_ls.ghost')
  local marks = api.nvim_buf_get_extmarks(buf, ghost.ns, 0, -1, { details = true })
  local m = marks[1]
  if not m then
    return nil
  end
  local d = m[4]
  local inline = ''
  for _, chunk in ipairs(d.virt_text or {}) do
    inline = inline .. chunk[1]
  end
  local below = {}
  for _, vl in ipairs(d.virt_lines or {}) do
    local s = ''
    for _, chunk in ipairs(vl) do
      s = s .. chunk[1]
    end
    below[#below + 1] = s
  end
  return { id = m[1], row = m[2], col = m[3], inline = inline, lines = below, pos = d.virt_text_pos }
end

--- Ghost text: shows the fake's text, typing through keeps it, accept word
--- inserts one word, <Tab> accepts the rest, <Tab> falls through without one.
--- File: line 2 is "    re"; the fake answers EXPECT after "ret".
function S.ghost(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local ghost = require('deepseek_ls.ghost')
  local text = expect()
  H.feed('2GA')
  H.feed('t')
  local shown = H.wait(function()
    return ghost.current_text(buf)
  end, 20000, 'ghost text')
  local mark = ghost_mark(buf)
  H.result.ghost = mark
  H.check('ghost text appears', shown ~= nil and mark ~= nil, mark)
  if not mark then
    return
  end
  local first = vim.split(text, '\n', { plain = true })[1]
  H.check('ghost extmark shows the fake text inline at the cursor', mark.inline == first and mark.pos == 'inline'
    and mark.row == 1 and mark.col == #'    ret', mark)
  local shows = H.sent('deepseek/didShowCompletion')
  H.check('didShowCompletion sent', #shows >= 1, shows)
  local id = shows[1] and shows[1].params.id

  -- accept one word
  local word = text:match('^%s*[%w_]+') or text
  H.feed('<M-w>')
  H.wait(function()
    return line(2) == '    ret' .. word
  end, 3000, 'accept word')
  H.check('accept word inserts one word', line(2) == '    ret' .. word, line(2))
  H.check('cursor after the word', api.nvim_win_get_cursor(0)[2] == #('    ret' .. word), api.nvim_win_get_cursor(0))
  local after = ghost_mark(buf)
  H.check('rest of the suggestion still shown, same extmark (no flicker)',
    after ~= nil and after.id == mark.id and after.inline == first:sub(#word + 1), after)
  local partial = H.sent('deepseek/didPartiallyAcceptCompletion')
  H.check('didPartiallyAcceptCompletion sent', #partial == 1 and partial[1].params.id == id
    and partial[1].params.acceptedLength == #word, partial)

  -- typing the next character of the suggestion keeps it (trimmed in place)
  local rest = first:sub(#word + 1)
  if #rest > 1 then
    local ch = rest:sub(1, 1)
    H.feed(ch == ' ' and '<Space>' or ch)
    H.expect('typing through keeps the ghost text (same extmark)', function()
      local typed = ghost_mark(buf)
      return typed ~= nil and typed.id == mark.id and typed.inline == rest:sub(2)
    end, 3000, function()
      return ghost_mark(buf)
    end)
  end

  -- accept everything
  H.feed('<Tab>')
  H.wait(function()
    return line(2) == '    ret' .. first
  end, 3000, 'accept')
  H.check('<Tab> accepts the suggestion', line(2) == '    ret' .. first, line(2))
  local ex = H.sent('workspace/executeCommand')
  local acc = ex[#ex]
  H.check('accept runs the item command deepseek.acceptCompletion',
    acc ~= nil and acc.params.command == 'deepseek.acceptCompletion'
      and type(acc.params.arguments) == 'table' and acc.params.arguments[1].id == id, acc)

  -- nothing shown: <Tab> falls through and inserts a tab
  H.wait(function()
    return not ghost.visible(buf)
  end, 2000, 'ghost gone')
  H.feed('<Tab>')
  H.expect('<Tab> without ghost text inserts a tab', function()
    return line(2) == '    ret' .. first .. '\t'
  end, 3000, function()
    return line(2)
  end)

  H.feed('<Esc>')
  H.expect('ghost text cleared after leaving Insert mode', function()
    return ghost_mark(buf) == nil
  end)
  H.result.lines = api.nvim_buf_get_lines(buf, 0, -1, false)
end

--- The Neovim 0.12 glue (native.lua) against a stub of vim.lsp.inline_completion
--- (this Neovim has none): enable per buffer, <Tab> -> get(), <M-w> -> partial
--- accept + didPartiallyAcceptCompletion, didShowCompletion from the responses.
function S.native_stub(H)
  local calls = {}
  local current
  vim.lsp.inline_completion = {
    enable = function(on, filter)
      table.insert(calls, { 'enable', on, filter and filter.bufnr })
    end,
    is_enabled = function()
      return true
    end,
    get = function(opts)
      table.insert(calls, { 'get', opts and opts.on_accept ~= nil })
      if not current then
        return false
      end
      local item = current
      current = nil
      vim.schedule(function()
        if opts and opts.on_accept then
          opts.on_accept(item)
        end
      end)
      return true
    end,
    select = function(opts)
      table.insert(calls, { 'select', opts.count })
    end,
  }
  local client, buf = start(H)
  if not client then
    return
  end
  H.result.native_calls = calls
  H.check('native: the client runs on the plugin RPC client (cmd function)', type(client.config.cmd) == 'function')
  H.check('native: enable(true, {bufnr}) on attach', calls[1] and calls[1][1] == 'enable' and calls[1][2] == true
    and calls[1][3] == buf, calls)
  H.feed('2GA')
  H.feed('t')
  -- an inlineCompletion response through the plugin's RPC client (native.rpc_cmd) -> didShowCompletion
  local got
  client:request('textDocument/inlineCompletion', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = 1, character = 7 },
    context = { triggerKind = 1 },
  }, function(_, result)
    got = result
  end, buf)
  H.wait(function()
    return got ~= nil
  end, 20000, 'inlineCompletion')
  local item = got and got.items and got.items[1]
  H.check('native: server answered', item ~= nil, got)
  if not item then
    return
  end
  H.wait(function()
    return #H.sent('deepseek/didShowCompletion') > 0
  end, 2000, 'didShow')
  local shows = H.sent('deepseek/didShowCompletion')
  local id = item.command.arguments[1].id
  H.check('native: didShowCompletion for the first item', #shows == 1 and shows[1].params.id == id, shows)
  current = {
    client_id = client.id,
    insert_text = item.insertText,
    range = { start = { row = 1, col = 7 }, end_ = { row = 1, col = 7 } },
    command = item.command,
  }
  H.feed('<M-w>')
  local word = expect():match('^%s*[%w_]+')
  H.expect('native: accept word inserts one word', function()
    return line(2) == '    ret' .. word
  end, 3000, function()
    return line(2)
  end)
  local partial = H.sent('deepseek/didPartiallyAcceptCompletion')
  H.check('native: didPartiallyAcceptCompletion', #partial == 1 and partial[1].params.id == id
    and partial[1].params.acceptedLength == #word, partial)
  H.feed('<Tab>')
  H.expect('native: <Tab> without a suggestion falls through', function()
    return line(2) == '    ret' .. word .. '\t'
  end, 3000, function()
    return line(2)
  end)
  local gets = 0
  for _, c in ipairs(calls) do
    if c[1] == 'get' then
      gets = gets + 1
    end
  end
  H.check('native: keys call vim.lsp.inline_completion.get()', gets == 2, calls)
  H.feed('<Esc>')
end

--- A multi-line suggestion on a new line: inline text + virtual lines;
--- accept line twice takes it line by line (the last one is a full accept).
function S.multiline(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local text = expect()
  local lines = vim.split(text, '\n', { plain = true })
  H.feed('Go')
  local mark = H.wait(function()
    return ghost_mark(buf)
  end, 20000, 'ghost text')
  H.result.ghost = mark
  H.check('multi-line ghost text: first line inline, the rest as virtual lines', mark ~= nil
    and mark.inline == lines[1] and vim.deep_equal(mark.lines, { unpack(lines, 2) }), mark)
  if not mark then
    return
  end
  H.feed('<M-l>')
  local row = mark.row + 1
  H.expect('accept line inserts the first line', function()
    return line(row) == lines[1]
  end, 3000, function()
    return line(row)
  end)
  local after = ghost_mark(buf)
  H.check('the other lines stay shown', after ~= nil and after.inline == '' and after.lines[1] == lines[2], after)
  local partial = H.sent('deepseek/didPartiallyAcceptCompletion')
  H.check('didPartiallyAcceptCompletion with the length of the line', #partial == 1
    and partial[1].params.acceptedLength == #lines[1], partial)
  H.feed('<M-l>')
  H.expect('accept line again inserts the next line', function()
    return line(row + 1) == lines[2]
  end, 3000, function()
    return { line(row), line(row + 1) }
  end)
  if #lines == 2 then
    local ex = H.sent('workspace/executeCommand')
    H.check('taking the last line is a full accept (deepseek.acceptCompletion)',
      ex[#ex] ~= nil and ex[#ex].params.command == 'deepseek.acceptCompletion', ex)
  end
  H.feed('<Esc>')
end

--- Typing fast: every keystroke asks, and cancels the request before it.
function S.typing(H)
  local client, buf = start(H)
  if not client then
    return
  end
  H.feed('Go')
  for _, ch in ipairs({ 'x', ' ', '=', ' ', '1' }) do
    H.feed(ch == ' ' and '<Space>' or ch)
  end
  H.sleep(800)
  H.check('requests while typing', (H.result.inline_requests or 0) >= 3, H.result.inline_requests)
  H.check('each new request cancels the pending one',
    H.result.cancels >= 2 and H.result.cancels >= (H.result.inline_requests or 0) - 2,
    { requests = H.result.inline_requests, cancels = H.result.cancels })
  H.feed('<Esc>')
end

--- The completion menu hides the ghost text; closing it brings it back.
function S.pum(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local ghost = require('deepseek_ls.ghost')
  vim.o.completeopt = 'menu,menuone,noinsert'
  H.feed('2GA')
  H.feed('t')
  H.wait(function()
    return ghost.current_text(buf)
  end, 20000, 'ghost text')
  H.check('ghost text appears', ghost_mark(buf) ~= nil)
  H.feed('<C-n>')
  H.wait(function()
    return vim.fn.pumvisible() == 1
  end, 3000, 'completion menu')
  H.result.pum = vim.fn.pumvisible()
  H.check('completion menu open', vim.fn.pumvisible() == 1)
  H.sleep(300)
  H.check('ghost text hidden while the menu is open', ghost_mark(buf) == nil and not ghost.visible(buf))
  H.feed('<C-e>')
  local back = H.wait(function()
    return ghost_mark(buf)
  end, 5000, 'ghost back')
  H.check('ghost text back after the menu closed', back ~= nil and back.inline == expect(), back)
  H.feed('<Esc>')
end

--- :DeepSeekExplain on lines 1-2: a Markdown split streams the answer;
--- reasoning is folded; a follow-up reuses the session.
function S.explain(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local chat = require('deepseek_ls.chat')
  vim.cmd('1,2DeepSeekExplain')
  local cbuf = H.wait(function()
    return chat.current
  end, 2000, 'chat buffer')
  H.check('explain opens a chat buffer', cbuf ~= nil)
  if not cbuf then
    return
  end
  local c = chat._chats[cbuf]
  local function text()
    return table.concat(api.nvim_buf_get_lines(cbuf, 0, -1, false), '\n')
  end
  local want = expect()
  H.wait(function()
    return not c.busy
  end, 30000, 'explain answer')
  H.result.chat = api.nvim_buf_get_lines(cbuf, 0, -1, false)
  H.check('chat buffer is markdown in a split', vim.bo[cbuf].filetype == 'markdown'
    and #vim.fn.win_findbuf(cbuf) == 1 and #api.nvim_tabpage_list_wins(0) == 2)
  H.check('explain streams the answer into the buffer', text():find(want, 1, true) ~= nil, text())
  local ex = H.sent('workspace/executeCommand')
  local first = ex[1]
  H.check('deepseek.explainSelection with uri, range and stream', first ~= nil
    and first.params.command == 'deepseek.explainSelection'
    and first.params.arguments[1].uri == vim.uri_from_bufnr(buf)
    and first.params.arguments[1].range.start.line == 0
    and first.params.arguments[1].range['end'].line == 1
    and type(first.params.arguments[1].stream) == 'string', first)
  H.check('session recorded', type(c.session) == 'string' and c.session ~= '', c.session)
  H.result.streamed = H.result.streamed

  -- reasoning folded away
  if #c.ranges > 0 then
    local win = vim.fn.win_findbuf(cbuf)[1]
    local closed = api.nvim_win_call(win, function()
      return vim.fn.foldclosed(c.ranges[1][1])
    end)
    H.check('reasoning is in a closed fold', closed ~= -1, { ranges = c.ranges, closed = closed })
  end

  -- follow-up in the same session
  local session = c.session
  require('deepseek_ls').chat('And what does it return?')
  H.wait(function()
    return #H.sent('workspace/executeCommand') >= 2 and not c.busy
  end, 30000, 'follow-up answer')
  ex = H.sent('workspace/executeCommand')
  local follow = ex[2]
  H.check('follow-up uses deepseek.chat with the same session', follow ~= nil
    and follow.params.command == 'deepseek.chat'
    and session ~= nil and follow.params.arguments[1].session == session, follow)
  local count = select(2, text():gsub('## DeepSeek', ''))
  H.check('follow-up answer appended', count == 2, text())
  H.result.chat = api.nvim_buf_get_lines(cbuf, 0, -1, false)
end

--- :DeepSeekCancel stops an answer that never comes (the fake stalls).
function S.cancel(H)
  local client = start(H)
  if not client then
    return
  end
  local chat = require('deepseek_ls.chat')
  vim.cmd('1,2DeepSeekExplain')
  local cbuf = chat.current
  local c = cbuf and chat._chats[cbuf]
  H.check('explain started', c ~= nil and c.busy)
  if not c then
    return
  end
  H.sleep(500)
  local sl = require('deepseek_ls').statusline()
  H.check('statusline says waiting while the answer runs', sl:match('^DeepSeek waiting') ~= nil, sl)
  vim.cmd('DeepSeekCancel')
  H.wait(function()
    return not c.busy
  end, 10000, 'cancelled')
  local text = table.concat(api.nvim_buf_get_lines(cbuf, 0, -1, false), '\n')
  H.result.chat = api.nvim_buf_get_lines(cbuf, 0, -1, false)
  H.check(':DeepSeekCancel ends the answer', not c.busy and text:find('(cancelled)', 1, true) ~= nil, text)
  local ex = H.sent('workspace/executeCommand')
  H.check('deepseek.cancel sent', ex[#ex] and ex[#ex].params.command == 'deepseek.cancel', ex[#ex])
end

--- :DeepSeekRewrite applies the server's edit; :DeepSeekToggle flips
--- automatic completion in the server (seen in deepseek/status).
function S.commands(H)
  local client, buf = start(H)
  if not client then
    return
  end
  vim.cmd('2DeepSeekRewrite finish the return statement')
  local want = expect()
  H.wait(function()
    return line(2) == want
  end, 20000, 'rewrite')
  H.result.lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  H.check(':DeepSeekRewrite replaces the line with the answer', line(2) == want, H.result.lines)
  local ds = require('deepseek_ls')
  H.wait(function()
    return ds.status() ~= nil
  end, 5000, 'status')
  local before = ds.status() and ds.status().autoCompletion
  vim.cmd('DeepSeekToggle off')
  H.wait(function()
    return ds.status() and ds.status().autoCompletion == false
  end, 5000, 'toggle off')
  H.check(':DeepSeekToggle off turns automatic completion off', before == true
    and ds.status().autoCompletion == false, ds.status())
  vim.cmd('DeepSeekToggle')
  H.wait(function()
    return ds.status() and ds.status().autoCompletion == true
  end, 5000, 'toggle back')
  H.check(':DeepSeekToggle flips it back on', ds.status().autoCompletion == true, ds.status())
end

--- auto_trigger = false: nothing while typing; <M-]> asks (triggerKind
--- Invoked) and shows the suggestion. Then statusline and :checkhealth.
function S.misc(H)
  -- earlier mappings of our keys: a Lua callback and a plain rhs
  vim.keymap.set('i', '<C-]>', function()
    vim.g.dsls_prev = (vim.g.dsls_prev or 0) + 1
  end)
  vim.cmd('inoremap <M-l> LL')
  local client, buf = start(H, { ghost_text = { auto_trigger = false } })
  if not client then
    return
  end
  local ghost = require('deepseek_ls.ghost')
  H.feed('2GA')
  H.feed('t')
  H.sleep(600)
  H.check('no request while typing with auto_trigger = false', (H.result.inline_requests or 0) == 0
    and ghost_mark(buf) == nil, H.result.inline_requests)
  H.feed('<M-]>')
  local mark = H.wait(function()
    return ghost_mark(buf)
  end, 20000, 'invoked ghost text')
  H.check('<M-]> requests with triggerKind Invoked and shows the suggestion',
    mark ~= nil and mark.inline == expect() and H.result.last_trigger == 1, { mark = mark, kind = H.result.last_trigger })
  H.feed('<C-]>')
  H.expect('<C-]> dismisses', function()
    return ghost_mark(buf) == nil
  end)
  H.feed('<M-]>')
  H.wait(function()
    return ghost_mark(buf)
  end, 20000, 'invoked ghost text again')
  H.feed('<Left>')
  H.expect('moving the cursor clears the ghost text', function()
    return ghost_mark(buf) == nil and not ghost.visible(buf)
  end)
  H.feed('<C-]>')
  H.feed('<M-l>')
  H.expect('without ghost text the keys fall through to the earlier mappings', function()
    return vim.g.dsls_prev == 1 and line(2):find('LL', 1, true) ~= nil
  end, 3000, function()
    return { prev = vim.g.dsls_prev, line = line(2) }
  end)
  H.feed('<Esc>')
  local ds = require('deepseek_ls')
  H.wait(function()
    return ds.status() ~= nil
  end, 5000, 'deepseek/status')
  local sl = ds.statusline()
  H.result.statusline = sl
  H.check('statusline shows state', sl:match('^DeepSeek %a+') ~= nil, sl)
  vim.cmd('checkhealth deepseek_ls')
  local lines = api.nvim_buf_get_lines(0, 0, -1, false)
  H.result.health = lines
  local text = table.concat(lines, '\n')
  H.check('checkhealth ran', text:find('deepseek_ls', 1, true) ~= nil and not text:find('ERROR: Failed to run healthcheck', 1, true), lines)
end

--- Covered closers: the file's line 1 is `<head>()` (DSLS_HEAD, may hold
--- emoji), the cursor goes between the brackets and the server's item range
--- covers the `)`. DSLS_EXPECT is the suggestion; DSLS_MODE 'full' accepts it
--- at once, 'word' takes it word by word first.
local function cover_start(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local head = os.getenv('DSLS_HEAD')
  H.check('file line 1 is head()', line(1) == head .. '()', line(1))
  -- Insert mode between the brackets (InsertEnter asks for a suggestion)
  api.nvim_win_set_cursor(0, { 1, #head })
  H.feed('a')
  local mark = H.wait(function()
    return ghost_mark(buf)
  end, 20000, 'ghost text')
  H.result.ghost = mark
  local text = expect()
  local ghost = require('deepseek_ls.ghost')
  local st = ghost.state(buf)
  H.check('the item range covers the closer', st ~= nil and st.cover == ')' and st.col == #head + 1,
    st and { cover = st.cover, col = st.col })
  H.check('ghost text overlays the covered ) (shown once)', mark ~= nil and mark.pos == 'overlay'
    and mark.inline == text and mark.row == 0 and mark.col == #head + 1, mark)
  return client, buf, head, text
end

function S.cover_full(H)
  local client, buf, head, text = cover_start(H)
  if not client then
    return
  end
  -- typing the first character through: still drawn over the kept )
  H.feed(text:sub(1, 1))
  H.expect('typing through keeps the overlay over the )', function()
    local m = ghost_mark(buf)
    return line(1) == head .. '(' .. text:sub(1, 1) .. ')' and m ~= nil and m.pos == 'overlay'
      and m.inline == text:sub(2) and m.col == #head + 2
  end, 5000, function()
    return { line = line(1), mark = ghost_mark(buf) }
  end)
  H.sleep(300) -- the request after the keystroke answers (typed-ahead): same text, same cover
  H.feed('<Tab>')
  H.expect('accept replaces the covered )', function()
    return line(1) == head .. '(' .. text
  end, 3000, function()
    return line(1)
  end)
  H.check('cursor at the end of the accepted text', api.nvim_win_get_cursor(0)[2] == #(head .. '(' .. text),
    api.nvim_win_get_cursor(0))
  local ex = H.sent('workspace/executeCommand')
  H.check('accept runs deepseek.acceptCompletion', ex[#ex] ~= nil
    and ex[#ex].params.command == 'deepseek.acceptCompletion', ex)
  H.feed('<Esc>')
end

function S.cover_word(H)
  local client, buf, head, text = cover_start(H)
  if not client then
    return
  end
  local ghost = require('deepseek_ls.ghost')
  local word = ghost._next_word(text)
  H.feed('<M-w>')
  H.expect('accept word before the closer keeps it', function()
    return line(1) == head .. '(' .. word .. ')'
  end, 3000, function()
    return line(1)
  end)
  local mark = ghost_mark(buf)
  H.check('the rest overlays the kept )', mark ~= nil and mark.pos == 'overlay'
    and mark.inline == text:sub(#word + 1) and mark.col == #head + 1 + #word, mark)
  local partial = H.sent('deepseek/didPartiallyAcceptCompletion')
  H.check('didPartiallyAcceptCompletion with the word length', #partial == 1
    and partial[1].params.acceptedLength == vim.str_utfindex(word), partial)
  -- word by word up to and over the closer: the piece that writes `)` replaces it
  local close = text:find(')', 1, true)
  local taken = word
  for _ = 1, 10 do
    if #taken >= close then
      break
    end
    local w = ghost._next_word(text:sub(#taken + 1))
    H.feed('<M-w>')
    taken = taken .. w
    H.wait(function()
      return line(1):sub(1, #head + 1 + #taken) == head .. '(' .. taken
    end, 3000, 'accept word')
  end
  H.check('accepting the word with ) replaces the covered one', line(1) == head .. '(' .. taken,
    { line = line(1), taken = taken })
  local rest = ghost_mark(buf)
  H.check('the rest is plain inline ghost text again', rest ~= nil and rest.pos == 'inline'
    and rest.inline == text:sub(#taken + 1), rest)
  H.feed('<Tab>')
  H.expect('accept gives the whole line', function()
    return line(1) == head .. '(' .. text
  end, 3000, function()
    return line(1)
  end)
  H.feed('<Esc>')
end

--- The 0.12 glue's partial accepts with a covered closer (stubbed
--- vim.lsp.inline_completion, items shaped as the built-in passes them to
--- on_accept: byte ranges with start / end_): accept word keeps the `)`,
--- accept line up to the end replaces it.
function S.native_cover(H)
  local current
  vim.lsp.inline_completion = {
    enable = function() end,
    is_enabled = function()
      return true
    end,
    get = function(opts)
      if not current then
        return false
      end
      local item = current
      current = nil
      vim.schedule(function()
        opts.on_accept(item)
      end)
      return true
    end,
    select = function() end,
  }
  local client = start(H)
  if not client then
    return
  end
  local head, text = os.getenv('DSLS_HEAD'), expect()
  api.nvim_win_set_cursor(0, { 1, #head })
  H.feed('a')
  local col = #head + 1
  current = { client_id = client.id, insert_text = text,
    range = { start = { row = 0, col = col }, end_ = { row = 0, col = col + 1 } } }
  local word = require('deepseek_ls.ghost')._next_word(text)
  H.feed('<M-w>')
  H.expect('native: accept word before the closer keeps it', function()
    return line(1) == head .. '(' .. word .. ')'
  end, 3000, function()
    return line(1)
  end)
  col = col + #word
  current = { client_id = client.id, insert_text = text:sub(#word + 1),
    range = { start = { row = 0, col = col }, end_ = { row = 0, col = col + 1 } } }
  H.feed('<M-l>')
  H.expect('native: accept line to the end replaces the covered )', function()
    return line(1) == head .. '(' .. text
  end, 3000, function()
    return line(1)
  end)
  H.feed('<Esc>')
end

--- Covered closer with text after it / a multi-line suggestion: line 1 is
--- DSLS_HEAD .. DSLS_TAIL, the cursor between them; DSLS_SHOW (JSON
--- {inline, lines}) is what the ghost text must show, DSLS_FINAL (JSON list)
--- the file's first lines after <Tab>.
function S.cover_shape(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local head = os.getenv('DSLS_HEAD')
  local show = vim.json.decode(os.getenv('DSLS_SHOW'))
  local final = vim.json.decode(os.getenv('DSLS_FINAL'))
  api.nvim_win_set_cursor(0, { 1, #head - 1 })
  H.feed('a')
  local mark = H.wait(function()
    return ghost_mark(buf)
  end, 20000, 'ghost text')
  H.result.ghost = mark
  H.check('ghost text overlays the cover and redraws the line tail where it goes', mark ~= nil
    and mark.pos == 'overlay' and mark.inline == show.inline and vim.deep_equal(mark.lines, show.lines), mark)
  H.feed('<Tab>')
  H.expect('accept replaces the covered closer', function()
    return vim.deep_equal(api.nvim_buf_get_lines(0, 0, #final, false), final)
  end, 3000, function()
    return api.nvim_buf_get_lines(0, 0, #final + 1, false)
  end)
  H.feed('<Esc>')
end

--- An excluded file (settings exclude = {"calc.py"}): no ghost text, the
--- statusline says so with the server's message while that file is in the
--- window, not in another one, and no longer once the buffer is deleted
--- (didClose ends the server's `excluded` state).
function S.excluded(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local status = require('deepseek_ls.status')
  local uri = vim.uri_from_bufnr(buf)
  H.feed('2GA')
  H.feed('t')
  local got = H.wait(function()
    return status.data and status.data.state == 'excluded' and status.data
  end, 20000, 'excluded status')
  H.check('deepseek/status excluded names this file', got ~= nil and got.excludedUri == uri
    and type(got.message) == 'string' and got.message:find('calc.py', 1, true) ~= nil, status.data)
  local line1 = status.statusline({ usage = false })
  H.result.statusline = line1
  H.check('statusline: excluded with the message', line1:match('^DeepSeek excluded: calc%.py is excluded') ~= nil, line1)
  H.check('no ghost text in an excluded file', require('deepseek_ls.ghost').current_text(buf) == nil)
  H.feed('<Esc>')
  vim.cmd('enew')
  local other = status.statusline({ usage = false })
  H.check('another buffer in the window: not shown as excluded', other == 'DeepSeek idle', other)
  vim.cmd('buffer ' .. buf)
  H.check('back in the file: excluded again', status.statusline({ usage = false }):find('excluded', 1, true) ~= nil)
  vim.cmd('enew')
  vim.cmd('bwipeout! ' .. buf)
  H.expect('deleting the buffer ends the excluded state (server side)', function()
    return status.data and status.data.state ~= 'excluded'
  end, 5000, function()
    return status.data
  end)
end

--- deepseek/definitions against a stand-in server (stub_deepseek.py, UTF-16)
--- and a second language server that provides definitions (stub_definitions.py,
--- UTF-8): the server's command test.askDefinitions sends the request and
--- answers with the plugin's result. DSLS_POSITIONS: the positions to ask for.
function S.definitions(H)
  local client, buf = start(H)
  if not client then
    return
  end
  local uri = vim.uri_from_bufnr(buf)
  local positions = vim.json.decode(os.getenv('DSLS_POSITIONS'))
  local function ask(doc_uri)
    local got
    client:request('workspace/executeCommand', {
      command = 'test.askDefinitions',
      arguments = { { textDocument = { uri = doc_uri }, positions = positions } },
    }, function(err, result)
      got = { err = err, result = result or vim.NIL }
    end, buf)
    return function()
      return got
    end
  end
  local r = H.wait(ask(uri), 10000, 'answer without another server')
  H.result.no_provider = r and r.result
  H.check('answered without another server', r ~= nil and r.err == nil, r)

  local defs_id = vim.lsp.start({
    name = 'stub-definitions',
    cmd = vim.json.decode(os.getenv('DSLS_DEFS_CMD')),
    root_dir = vim.fn.getcwd(),
  }, { bufnr = buf })
  local defs = H.wait(function()
    local c = defs_id and vim.lsp.get_client_by_id(defs_id)
    return c and c.initialized and c
  end, 20000, 'definitions server')
  H.check('the definitions server attached', defs ~= nil)
  H.result.encodings = { deepseek = client.offset_encoding, definitions = defs and defs.offset_encoding }

  -- typing goes on while the definitions are gathered (one of them waits for the deadline)
  local pending = ask(uri)
  H.feed('Go')
  H.feed('typed')
  local lastline = api.nvim_buf_get_lines(buf, -2, -1, false)[1]
  H.check('typing goes on while the request is pending', lastline == 'typed' and pending() == nil,
    { line = lastline, answered = pending() ~= nil })
  H.feed('<Esc>')
  r = H.wait(pending, 10000, 'answer')
  H.check('answered with another server', r ~= nil and r.err == nil, r)
  H.result.answer = r and r.result

  r = H.wait(ask('file:///nowhere/not-open.py'), 10000, 'answer for a document that is not open')
  H.result.not_open = r and r.result
end

--- deepseek/definitions with the REAL deepseek-ls and a real second language
--- server (DSLS_DEFS_CMD, JSON; empty: none), started the way a user's config
--- does (a FileType autocommand, as nvim-lspconfig), at the same time as
--- deepseek-ls. The scenario types at once (no wait for the other server),
--- records every deepseek/definitions answer of the plugin and every message
--- shown, and waits for ghost text; then, once an answer with a location came
--- (when DSLS_DEFS_WANT = '1'), asks again with <M-]> on a new line. The
--- prompts themselves are checked on the Python side (the fake's records).
function S.definitions_real(H)
  local notes = {}
  local notify = vim.notify
  vim.notify = function(msg, level, o)
    notes[#notes + 1] = { msg = tostring(msg), level = level or vim.log.levels.INFO }
    return notify(msg, level, o)
  end
  H.result.notes = notes
  local defs = require('deepseek_ls.definitions')
  local answers = {}
  H.result.answers = answers
  local gather = defs.gather
  defs.gather = function(self_client, params, done)
    local asked = uv_now()
    return gather(self_client, params, function(result)
      local found = 0
      if type(result) == 'table' then
        for _, e in ipairs(result) do
          if type(e) == 'table' then
            found = found + 1
          end
        end
      end
      answers[#answers + 1] = { at_ms = uv_now() - H.t0, took_ms = uv_now() - asked,
        positions = type(params.positions) == 'table' and #params.positions or -1,
        found = found, null = result == vim.NIL, ghost_before = H.result.ghosts and #H.result.ghosts or 0 }
      done(result)
    end)
  end
  local defs_cmd = os.getenv('DSLS_DEFS_CMD') or ''
  local late = os.getenv('DSLS_DEFS_LATE') == '1'
  local defs_id
  local function start_other(bufnr)
    defs_id = vim.lsp.start({
      name = 'other-python-server',
      cmd = vim.json.decode(defs_cmd),
      root_dir = vim.fn.getcwd(),
    }, { bufnr = bufnr })
  end
  if defs_cmd ~= '' and not late then
    api.nvim_create_autocmd('FileType', {
      pattern = 'python',
      callback = function(ev)
        start_other(ev.buf)
      end,
    })
  end
  H.t0 = uv_now()
  local client, buf = start(H)
  if not client then
    return
  end
  local ghost = require('deepseek_ls.ghost')
  H.result.ghosts = {}
  local other = defs_id and vim.lsp.get_client_by_id(defs_id)
  H.result.other_ready_at_attach = other ~= nil and other.initialized == true
  H.result.attached_ms = uv_now() - H.t0
  -- type at once, as a user does after opening the file (DSLS_TYPE_AFTER_MS: or after a look)
  local look = tonumber(os.getenv('DSLS_TYPE_AFTER_MS') or '0')
  if look > 0 then
    H.sleep(look)
  end
  H.feed('Go')
  H.feed('print(total')
  local shown = H.wait(function()
    return ghost.current_text(buf)
  end, 20000, 'first ghost text')
  H.check('first ghost text shown', shown ~= nil)
  H.result.ghosts[#H.result.ghosts + 1] = { text = shown, at_ms = uv_now() - H.t0 }
  if defs_cmd ~= '' and late then
    -- the other server comes after deepseek-ls asked (a lazy-loaded config, a slow start)
    H.wait(function()
      return #answers > 0
    end, 10000, 'the first deepseek/definitions request')
    H.check('asked before the other server was there: null', answers[1] ~= nil and answers[1].null, answers)
    start_other(buf)
  end
  if os.getenv('DSLS_DEFS_WANT') == '1' then
    -- readiness: an answer of the plugin that found a location
    local found = H.wait(function()
      for _, a in ipairs(answers) do
        if a.found > 0 then
          return a
        end
      end
    end, 20000, 'an answer with a definition')
    H.check('the plugin answered deepseek/definitions with a definition', found ~= nil, answers)
    H.result.other_initialized = other ~= nil and other.initialized == true
  else
    H.sleep(1500) -- time for a late answer of a hanging server (deadline 1 s) to show up
  end
  H.feed('<Esc>')
  H.feed('o')
  H.feed('box = Shelf(')
  H.feed('<M-]>')
  shown = H.wait(function()
    return ghost.current_text(buf)
  end, 20000, 'invoked ghost text')
  H.check('invoked ghost text shown', shown ~= nil)
  H.result.ghosts[#H.result.ghosts + 1] = { text = shown, at_ms = uv_now() - H.t0 }
  H.feed('<Esc>')
  H.result.errors = {}
  for _, n in ipairs(notes) do
    if n.level >= vim.log.levels.WARN then
      H.result.errors[#H.result.errors + 1] = n
    end
  end
  H.check('no warning or error shown', #H.result.errors == 0, H.result.errors)
  H.result.lines = api.nvim_buf_get_lines(buf, 0, -1, false)
end

return S
