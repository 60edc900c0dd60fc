"""One module per top-level command; each defines ``register(app: typer.Typer)``."""
