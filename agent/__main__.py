"""`python -m agent ...` runs the failforge command line (what the `failforge` script runs)."""

from agent.entry.cli import main

main()
