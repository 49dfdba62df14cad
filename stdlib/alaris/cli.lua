local cli = {}
function cli.main(argv)
  local alaris = require "alaris"
  print("hello", argv[1])
  alaris.sleep(0.1)
  return 0
end
return cli
