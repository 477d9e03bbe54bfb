"""The engine: the Faust app, its agents, tables and timers."""
