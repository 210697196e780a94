"""Developer tools: the local AWS server used by the demo, the tests and the benchmark."""
