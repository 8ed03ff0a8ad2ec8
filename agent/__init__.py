"""failforge agent: the loop and the ways to drive it."""
