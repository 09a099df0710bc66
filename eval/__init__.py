"""Evaluation suites: held-out value probes, agentic scenarios, spec knowledge, capability regression."""
