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

require('deepseek_ls.commands').create()

if type(vim.g.deepseek_ls) == 'table' then
  require('deepseek_ls').setup(vim.g.deepseek_ls)
end
