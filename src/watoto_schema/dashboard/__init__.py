"""``watoto-schema dashboard``: one read-only web page for one database, served by the
toolkit itself (``health serve`` serves the same pages beside its metrics).

``collect`` reads each section with the toolkit's own capabilities (status, drift,
partitions, the maintenance plan, health), ``state`` keeps the latest sections and the
charts' history and refreshes them only while someone looks, ``charts`` draws SVG,
``render`` fills the jinja2 templates (autoescaped), ``server`` answers HTTP (GET only,
token, CSP), ``schedule`` says when a cron schedule fires next.
"""

from .collect import Options, Section
from .render import Renderer
from .server import Endpoint, check_access, read_token_file, start
from .state import Dashboard, View

__all__ = ["Dashboard", "Endpoint", "Options", "Renderer", "Section", "View", "check_access",
           "read_token_file", "start"]
