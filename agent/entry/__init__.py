"""The ways in: command line, HTTP API, scheduler, FiftyOne App plugin, LangGraph Studio."""
