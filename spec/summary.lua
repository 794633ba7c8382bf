-- busted output handler: busted's own terminal summary, then one plain
-- "N passed, N failed, N skipped" line that CI tools read. Pending cases
-- (skips with a reason) are counted as skipped, never as passed.
return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.utfTerminal"(options)
  busted.subscribe({ "suite", "end" }, function()
    io.write(string.format("%d passed, %d failed, %d skipped\n", #handler.successes,
      #handler.failures + #handler.errors, #handler.pendings))
    io.flush()
    return nil, true
  end)
  return handler
end
