"""The `multillm` command (typer + rich), one module per command group; `main.py` assembles them."""
