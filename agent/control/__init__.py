"""Driving loops and workspaces: start, resume, decide, stop; set-up, reports, benchmarks, exports."""
