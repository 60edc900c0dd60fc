"""The stream agents, one package each, plus the policy / signal code they use."""
