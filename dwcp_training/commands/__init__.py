"""CLI subcommands that live in their own module: each exposes `add_parser(sub)` (registered in
`dwcp_training.cli.SUBCOMMANDS`) and a handler `run(args, progress) -> exit code`."""
