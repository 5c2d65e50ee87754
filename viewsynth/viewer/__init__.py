"""The local viewer: a server confined to one output folder, and the page that plays its
walkthrough in a 360 viewer (Photo Sphere Viewer, vendored under ``static/vendor``) beside the flat
video, with each frame's position and heading from ``manifest.json``.

Serves files only; it imports nothing above ``viewsynth.errors``.
"""

from viewsynth.viewer.server import (
    DEFAULT_HOST,
    PREFIX,
    STATIC,
    ViewerError,
    ViewerServer,
    byte_range,
    confined,
    mime_type,
)

__all__ = [
    "DEFAULT_HOST",
    "PREFIX",
    "STATIC",
    "ViewerError",
    "ViewerServer",
    "byte_range",
    "confined",
    "mime_type",
]
