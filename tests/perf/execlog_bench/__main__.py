"""``python -m execlog_bench``."""

from execlog_bench.cli import main

raise SystemExit(main())
