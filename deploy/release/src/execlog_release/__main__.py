"""``python -m execlog_release``: the release command line."""

from execlog_release.cli import main

if __name__ == "__main__":
    main()
