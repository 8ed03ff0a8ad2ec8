"""failforge storage: where things live (workspace, FiftyOne datasets, registry)."""
