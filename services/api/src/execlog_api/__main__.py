"""``python -m execlog_api`` is the ``execlog-api`` command."""

from execlog_api.cli import main

main(prog_name="execlog-api")
