-- Options of require("deepseek_ls").setup{...} and their defaults.
local M = {}

---@class deepseek_ls.Keys
---@field accept string|false
---@field accept_word string|false
---@field accept_line string|false
---@field next string|false
---@field prev string|false
---@field dismiss string|false

M.defaults = {
  -- Server command. nil: `deepseek-ls` from $PATH, else `python3 -m deepseek_ls`.
  cmd = nil,
  -- Extra environment for the server process (merged over the editor's).
  cmd_env = nil,
  -- Shortcuts that end up in cmd_env (DEEPSEEK_API_KEY / DEEPSEEK_BASE_URL).
  api_key = nil,
  base_url = nil,
  -- nil: attach to every file buffer; or a list of filetypes.
  filetypes = nil,
  root_markers = { '.git' },
  -- The `deepseek` settings section (see the server README). Sent as
  -- `settings.deepseek`, as initializationOptions, and on workspace/configuration.
  -- The plugin shows chat answers itself, so the server's Markdown transcripts
  -- (meant for clients without a plugin) are off unless you turn them on.
  -- The plugin draws ghost text itself and shows answers in its own split:
  -- no duplicate completion-menu item, no transcript files.
  settings = { chat = { transcripts = false }, completion = { items = "never" } },
  ghost_text = {
    enabled = true,
    -- request as you type (TextChangedI / CursorMovedI); false: only on `next` key
    auto_trigger = true,
    -- use Neovim 0.12's vim.lsp.inline_completion when it exists
    native = true,
    hl_group = 'DeepSeekGhostText',
    -- filetypes where ghost text is never requested
    disabled_filetypes = {},
  },
  keys = {
    accept = '<Tab>',
    accept_word = '<M-w>',
    accept_line = '<M-l>',
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
  },
  chat = {
    -- 'vertical' | 'horizontal' | 'tab' | 'current'
    split = 'vertical',
    -- width (vertical) or height (horizontal); nil: half of the screen
    size = nil,
    -- keep focus in the source window after :DeepSeekChat / :DeepSeekExplain
    keep_focus = false,
  },
  statusline = {
    prefix = 'DeepSeek',
  },
  -- called with (client, bufnr) on every attach
  on_attach = nil,
}

M.options = vim.deepcopy(M.defaults)

---@param opts table|nil
function M.apply(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  -- lists are replaced, not merged
  if opts and opts.root_markers then
    M.options.root_markers = opts.root_markers
  end
  return M.options
end

return M
