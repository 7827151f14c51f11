"""The engine: runs a suite's datasets × strategies through cache, retries and scorers into a run store."""
