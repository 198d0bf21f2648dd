#!/scripts/hello.sh nested-argument
this line is never read: hello.sh is the interpreter
