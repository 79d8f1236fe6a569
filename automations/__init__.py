"""Rules, the save-time checker, the engine, executions and the rule builder."""
