"""`pulumi preview/up` runs this: the municloud program for the selected stack."""

from municloud_stack.program import main

main()
