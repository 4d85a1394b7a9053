-- deepseek-ls: user commands. The server starts with require("deepseek_ls").setup{...}
-- (or automatically when vim.g.deepseek_ls is a table of setup options).
if vim.g.loaded_deepseek_ls then
  return
end
vim.g.loaded_deepseek_ls = true

if vim.fn.has('nvim-0.10') == 0 then
  vim.api.nvim_echo({ { 'deepseek_ls needs Neovim 0.10 or newer', 'WarningMsg' } }, true, {})
  return
end

local function ds()
  return require('deepseek_ls')
end

local cmd = vim.api.nvim_create_user_command

cmd('DeepSeekChat', function(o)
  require('deepseek_ls.chat').chat(o.args, {
    new = o.bang,
    range = o.range,
    line1 = o.line1,
    line2 = o.line2,
  })
end, { nargs = '*', range = true, bang = true, desc = 'DeepSeek: ask (follow-up in the current chat; ! = new session)' })

cmd('DeepSeekExplain', function(o)
  require('deepseek_ls.chat').explain({ line1 = o.line1, line2 = o.line2, range = o.range })
end, { range = true, desc = 'DeepSeek: explain the selected lines' })

cmd('DeepSeekCancel', function()
  require('deepseek_ls.chat').cancel()
end, { desc = 'DeepSeek: cancel running chat/explain answers' })

cmd('DeepSeekRewrite', function(o)
  ds().rewrite(o.args, { line1 = o.line1, line2 = o.line2 })
end, { nargs = '*', range = true, desc = 'DeepSeek: rewrite the selected lines following an instruction' })

cmd('DeepSeekToggle', function(o)
  local arg = o.args
  ds().toggle(arg == 'on' and true or arg == 'off' and false or nil)
end, {
  nargs = '?',
  complete = function()
    return { 'on', 'off' }
  end,
  desc = 'DeepSeek: toggle automatic completion (server-wide)',
})

cmd('DeepSeekUsage', function()
  ds().usage()
end, { desc = 'DeepSeek: show session usage and cost' })

cmd('DeepSeekAttach', function()
  ds().attach(0)
end, { desc = 'DeepSeek: attach the server to the current buffer' })

if type(vim.g.deepseek_ls) == 'table' then
  ds().setup(vim.g.deepseek_ls)
end
