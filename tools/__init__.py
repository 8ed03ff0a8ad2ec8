"""failforge tools: what the agent calls, each kind a Protocol with backends."""
