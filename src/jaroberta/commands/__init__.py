"""The command line, one module per pipeline stage; `jaroberta.cli` dispatches to them."""
