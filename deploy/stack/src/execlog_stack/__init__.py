"""Process orchestration for execlog: ports, Redis/PostgreSQL, services, fault injection, load."""

from execlog_stack._version import __version__

__all__ = ["__version__"]
