-- deepseek/definitions (server -> client request, docs/PROTOCOL.md): where
-- the names at some positions of a document are defined, according to the
-- buffer's OTHER language servers (never deepseek-ls itself). The server puts
-- those definitions in the context of its completion prompts; without this
-- plugin it falls back to its own parser.
--
--   params  {textDocument = {uri}, positions = {{line, character}, ...}}
--           (deepseek-ls's position encoding)
--   result  a list parallel to positions: vim.NIL, or the Locations /
--           LocationLinks of every other client that answered (in
--           deepseek-ls's position encoding); vim.NIL as a whole when no other
--           client of the buffer provides definitions.
--
-- The handler runs in the coroutine Neovim gives server requests: it yields
-- while the textDocument/definition requests run (in parallel, asynchronous:
-- typing goes on) and answers when all are back or after DEADLINE_MS, with
-- what arrived by then (the rest cancelled, their entries vim.NIL).
local util = require('deepseek_ls.util')

local api = vim.api
local M = {}

M.DEADLINE_MS = 1000
M.METHOD = 'deepseek/definitions'

--- The loaded buffer whose URI is `uri`, or nil (never creates one).
local function buffer_of(uri)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(b) and vim.uri_from_bufnr(b) == uri then
      return b
    end
  end
end

local function supports_definition(client, bufnr)
  if util.has_011 then
    return client:supports_method('textDocument/definition', bufnr)
  end
  return client.supports_method('textDocument/definition', { bufnr = bufnr })
end

--- The other clients of bufnr that provide definitions.
local function providers(bufnr, self_id)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local out = {}
  for _, c in ipairs(get({ bufnr = bufnr })) do
    if c.id ~= self_id and c.name ~= util.name and supports_definition(c, bufnr) then
      out[#out + 1] = c
    end
  end
  return out
end

--- Reads lines of documents (loaded buffer, else the file on disk), cached.
local function line_reader()
  local cache = {}
  return function(uri, row)
    local lines = cache[uri]
    if lines == nil then
      lines = false
      local b = buffer_of(uri)
      if b then
        lines = api.nvim_buf_get_lines(b, 0, -1, false)
      elseif uri:match('^file:') then
        local ok, read = pcall(vim.fn.readfile, vim.uri_to_fname(uri))
        lines = ok and read or false
      end
      cache[uri] = lines
    end
    return lines and lines[row + 1] or nil
  end
end

--- A position of document `uri` from encoding `from` to encoding `to`
--- (unchanged when the line cannot be read).
local function convert_position(pos, uri, from, to, read)
  if from == to or type(pos) ~= 'table' then
    return pos
  end
  local line = read(uri, pos.line)
  if not line then
    return pos
  end
  return { line = pos.line, character = util.enc_len(line, to, util.enc_to_byte(line, pos.character, from)) }
end

local function convert_range(range, uri, from, to, read)
  if from == to or type(range) ~= 'table' then
    return range
  end
  return {
    start = convert_position(range.start, uri, from, to, read),
    ['end'] = convert_position(range['end'], uri, from, to, read),
  }
end

--- textDocument/definition's result (Location | Location[] | LocationLink[] | null)
--- as a list of Location / LocationLink in encoding `to`.
---@param result any
---@param origin string URI of the requesting document (LocationLink.originSelectionRange)
function M.normalise(result, origin, from, to, read)
  if type(result) ~= 'table' then
    return {}
  end
  if result.uri or result.targetUri then
    result = { result }
  end
  local out = {}
  for _, loc in ipairs(result) do
    if type(loc) == 'table' and type(loc.uri) == 'string' and loc.range then
      out[#out + 1] = { uri = loc.uri, range = convert_range(loc.range, loc.uri, from, to, read) }
    elseif type(loc) == 'table' and type(loc.targetUri) == 'string' and loc.targetRange then
      local link = {
        targetUri = loc.targetUri,
        targetRange = convert_range(loc.targetRange, loc.targetUri, from, to, read),
        targetSelectionRange = convert_range(loc.targetSelectionRange or loc.targetRange, loc.targetUri, from, to, read),
      }
      if loc.originSelectionRange then
        link.originSelectionRange = convert_range(loc.originSelectionRange, origin, from, to, read)
      end
      out[#out + 1] = link
    end
  end
  return out
end

local function valid_position(p)
  return type(p) == 'table' and type(p.line) == 'number' and type(p.character) == 'number'
    and p.line >= 0 and p.character >= 0
end

--- Ask the other clients; calls done(result) once (result as described at the top).
---@param self_client vim.lsp.Client the deepseek-ls client (its encoding; never asked)
---@param params table
---@param done fun(result: any)
function M.gather(self_client, params, done)
  local uri = type(params) == 'table' and type(params.textDocument) == 'table' and params.textDocument.uri
  local positions = type(params) == 'table' and params.positions
  local bufnr = type(uri) == 'string' and buffer_of(uri)
  if not bufnr or type(positions) ~= 'table' then
    return done(vim.NIL)
  end
  local clients = providers(bufnr, self_client.id)
  if #clients == 0 then
    return done(vim.NIL)
  end
  local enc = util.offset_encoding(self_client)
  local read = line_reader()
  local found = {} ---@type table<integer, table[]>
  local open = {} ---@type table<string, {client: vim.lsp.Client, id: integer}>
  local pending, finished, timer = 0, false, nil

  local function finish()
    if finished then
      return
    end
    finished = true
    if timer then
      timer:stop()
      timer:close()
      timer = nil
    end
    for _, r in pairs(open) do
      pcall(util.cancel, r.client, r.id)
    end
    local out = {}
    for i = 1, #positions do
      out[i] = (found[i] and #found[i] > 0) and found[i] or vim.NIL
    end
    done(out)
  end

  for i, pos in ipairs(positions) do
    local line = valid_position(pos) and api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, false)[1]
    if line then
      local byte = util.enc_to_byte(line, pos.character, enc)
      for _, c in ipairs(clients) do
        local cenc = util.offset_encoding(c)
        local key = c.id .. ':' .. i
        local ok, id = util.request(c, 'textDocument/definition', {
          textDocument = { uri = uri },
          position = { line = pos.line, character = util.enc_len(line, cenc, byte) },
        }, function(err, result)
          if finished then
            return
          end
          open[key] = nil
          pending = pending - 1
          if not err and result then
            local locs = M.normalise(result, uri, cenc, enc, read)
            if #locs > 0 then
              found[i] = found[i] or {}
              vim.list_extend(found[i], locs)
            end
          end
          if pending == 0 then
            finish()
          end
        end, bufnr)
        if ok and id then
          pending = pending + 1
          open[key] = { client = c, id = id }
        end
      end
    end
  end
  if pending == 0 then
    return finish()
  end
  timer = (vim.uv or vim.loop).new_timer()
  timer:start(M.DEADLINE_MS, 0, vim.schedule_wrap(finish))
end

--- Handler of the deepseek/definitions request (lsp-handler signature).
function M.handler(_, params, ctx)
  local client = ctx and vim.lsp.get_client_by_id(ctx.client_id)
  local co, is_main = coroutine.running()
  if not client or not co or is_main then
    -- no coroutine to wait in (older Neovim): the server uses its parser
    return vim.NIL
  end
  local result, answered, waiting = nil, false, false
  M.gather(client, params, function(r)
    result, answered = r, true
    if waiting then
      vim.schedule(function()
        local ok, err = coroutine.resume(co)
        if not ok then
          require('vim.lsp.log').error('deepseek/definitions: ' .. tostring(err))
        end
      end)
    end
  end)
  if not answered then
    waiting = true
    coroutine.yield()
  end
  return result
end

return M
