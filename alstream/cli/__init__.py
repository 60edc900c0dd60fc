"""The ``alstream`` command line. One module per command in ``alstream/cli/commands/``."""
