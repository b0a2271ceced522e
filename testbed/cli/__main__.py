"""`python3 -m testbed.cli ...` (what the testbed VM runs)."""

from testbed.cli.app import main

main()
