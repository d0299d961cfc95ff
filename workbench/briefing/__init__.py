"""Call briefing: what the RTCC tells units before they arrive at a call for service.

- :func:`brief`: one :class:`Briefing` for a CAD call (or any point and time):
  premise history, violent incidents and gunshot alerts nearby, current hot
  spot, cameras to pull up, plate readers on the routes out and hotlist hits
  for a vehicle call, and a plain-language summary.
- :class:`BriefingContext`: what does not change per call (hot spot map,
  cameras, road graph, hotlist), built once from the store and refreshed.
- :class:`BriefingService`: briefs each new priority call a live poller stores.

The Panel card is :mod:`workbench.briefing.card` (the only module here that imports Panel).
"""

from workbench.briefing.brief import SEVERITY, brief, check_call, distance_m, escape_cameras
from workbench.briefing.context import BriefingContext, compass
from workbench.briefing.result import PERSON_NOTE, Briefing

__all__ = ["PERSON_NOTE", "SEVERITY", "Briefing", "BriefingContext", "brief", "check_call", "compass",
           "distance_m", "escape_cameras"]
