"""The execution engine: WorkflowBrain, Runners, RetryService."""
