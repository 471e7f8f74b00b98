"""One module per CLI command: each has HELP, add_arguments(parser) and run(args) -> exit code."""
