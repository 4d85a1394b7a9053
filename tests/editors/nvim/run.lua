-- Entry point: nvim --headless -u NONE -i NONE -n -c 'luafile tests/editors/nvim/run.lua'
-- (see harness.lua for the environment it reads)
local dir = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local H = dofile(dir .. '/harness.lua')
local scenarios = dofile(dir .. '/scenarios.lua')

vim.opt.runtimepath:prepend(os.getenv('DSLS_PLUGIN_DIR'))
vim.cmd('runtime plugin/deepseek_ls.lua')
vim.cmd('filetype on')
vim.o.swapfile = false
vim.o.shadafile = 'NONE'

local name = os.getenv('DSLS_SCENARIO') or 'ghost'
local scenario = scenarios[name]
if not scenario then
  H.log('no scenario %s', name)
  H.finish(2, 'no scenario')
else
  H.run(function()
    scenario(H)
  end)
end
