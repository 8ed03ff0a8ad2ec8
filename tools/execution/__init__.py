"""Where generation and labelling run: in the loop's process, or fanned out over Ray workers."""
