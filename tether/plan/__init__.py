"""Plan, reflect and auto modes: task graphs, references, the critic, reflection, routing."""
