"""execlog_release: which service PEXes a change affects, and packaging only those.

``./pants run deploy/release -- affected --since REF`` and ``... -- package --since REF``.
"""

from execlog_release._version import __version__

__all__ = ["__version__"]
