"""The execution engine: events to executions, steps to runners, retries, dead letters, alerts."""
