"""Version of the execlog-schema library (independent of the wire ``SCHEMA_VERSION``)."""

__version__ = "0.3.0"
