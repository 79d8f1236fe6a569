"""The fault-injection harness of SPEC 8: real processes, real faults, a reconciled table."""
