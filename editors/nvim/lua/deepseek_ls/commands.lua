-- User commands (created by plugin/deepseek_ls.lua and again by setup(), so
-- they exist even when the plugin directory joins 'runtimepath' late).
local M = {}

function M.create()
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
end

return M
