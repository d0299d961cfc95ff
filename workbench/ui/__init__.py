"""Panel dashboards: reusable components (Viewers) and the four apps, for notebooks and ``workbench serve``.

Components (:mod:`workbench.ui.components`): :class:`MapView` (datashaded points over the
city's own streets, hot spot cells, cameras, gunshot alerts, vehicle tracks),
:class:`IncidentFilter`, :class:`KPICards`, :class:`Status`, :func:`table`.
Apps (:mod:`workbench.ui.apps`): Hotspot Explorer, Vehicle Investigation, Impact
Evaluation, Command Overview. Serving, login and roles: :mod:`workbench.ui.serve`,
:mod:`workbench.ui.auth`. No analysis happens here: views call the engines.
"""

from workbench.ui.data import Workspace, load_workspace, lonlat_to_mercator

__all__ = ["Workspace", "load_workspace", "lonlat_to_mercator"]
