"""The command line: typer commands that parse their arguments and call one function each."""
