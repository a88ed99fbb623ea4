"""``python -m execlog_worker`` is the ``execlog-worker`` CLI."""

from execlog_worker.cli import main

if __name__ == "__main__":
    main()
