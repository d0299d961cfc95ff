"""The one-paragraph plain-language summary at the top of a briefing.

Every sentence states a finding or says plainly that there was none, so an
officer never has to guess whether "nothing" means "nothing found" or "not
checked".
"""

from __future__ import annotations


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _label(text) -> str:
    return str(text).replace("_", " ")


def summarize(b) -> str:
    """One paragraph for a :class:`~workbench.briefing.Briefing`.

    Examples
    --------
    >>> print(summarize(briefing))                                 # doctest: +SKIP
    Robbery (priority 1) at 2300 block of Oak Ave, 2025-06-01 14:05. Premise history: ...
    """
    call = b.call
    kind = _label(call.get("call_type") or "Location").capitalize()
    priority = f" (priority {call['priority']})" if call.get("priority") is not None else ""
    where = call.get("address") or (f"{call['lat']:.5f}, {call['lon']:.5f}" if call.get("lon") is not None
                                    else "an unknown location")
    parts = [f"{kind}{priority} at {where}, {b.local(b.at)}."]

    located = call.get("lon") is not None
    if not located and not call.get("address"):
        parts.append("No coordinates and no address: nothing about the place could be looked up.")
    else:
        longest = b.settings["lookbacks_days"][-1]
        premise = b.premise
        if not len(premise):
            parts.append(f"No prior calls or incidents at this address{' or within ' + format(b.settings['premise_radius_m'], 'g') + ' m' if located else ''} "
                         f"in the last {longest:g} days.")
        else:
            n_calls = int((premise["source"] == "call").sum())
            n_inc = int((premise["source"] == "incident").sum())
            top = premise.iloc[0]
            gun = " with a firearm" if top["firearm"] else ""
            parts.append(f"Premise history (last {longest:g} days): {_plural(n_calls, 'prior call')} and "
                         f"{_plural(n_inc, 'incident')}; most serious: {_label(top['type'])}{gun} "
                         f"on {b.local(top['at'])[:10]}.")
    if located:
        days = b.settings["nearby_days"]
        radius = b.settings["nearby_radius_m"]
        violent, shots = b.violent_nearby, b.gunshots_nearby
        if len(violent) or len(shots):
            text = (f"Within {radius:g} m in the last {days:g} days: {_plural(len(violent), 'violent incident')}"
                    f" and {_plural(len(shots), 'gunshot alert')}")
            if len(shots):
                text += f" (latest alert {b.local(shots['detected_at'].iloc[0])}, {shots['distance_m'].iloc[0]:.0f} m away)"
            parts.append(text + ".")
        else:
            parts.append(f"No violent incidents or gunshot alerts within {radius:g} m in the last {days:g} days.")
        spot = b.hotspot or {}
        if spot.get("in_hot_spot"):
            why = []
            if spot.get("gi_bin", 0) >= 2:
                why.append(f"Gi* {spot['confidence']} over the last {spot['weeks']} weeks")
            if spot.get("emerging") and spot.get("emerging_code", 0) > 0:
                why.append(spot["emerging"])
            parts.append(f"The location is in a current hot spot ({'; '.join(why)}).")
        else:
            parts.append("The location is not in a current hot spot.")
        cams = b.cameras
        if len(cams):
            by_kind = cams["kind"].value_counts()
            kinds = ", ".join(f"{n} {k}" for k, n in by_kind.items())
            nearest = cams.iloc[0]
            parts.append(f"{_plural(len(cams), 'camera')} within {b.settings['camera_radius_m']:g} m ({kinds}); "
                         f"nearest {nearest['camera_id']} at {nearest['distance_m']:.0f} m.")
        else:
            parts.append(f"No cameras within {b.settings['camera_radius_m']:g} m.")
        if b.escape_cameras is not None:
            esc = b.escape_cameras
            if len(esc):
                parts.append(f"Vehicle involved: {_plural(len(esc), 'plate reader')} on the routes out within "
                             f"{b.settings['escape_minutes']:g} min, first {esc['camera_id'].iloc[0]} "
                             f"({esc['seconds'].iloc[0] / 60:.1f} min).")
            else:
                parts.append(f"Vehicle involved: no plate reader within {b.settings['escape_minutes']:g} min "
                             "on the routes out.")
        if b.hotlist_hits is not None:
            n = len(b.hotlist_hits)
            parts.append(f"{_plural(n, 'hotlist hit')} within {b.settings['hit_radius_m']:g} m in the last "
                         f"{b.settings['hit_window']}." if n else
                         f"No hotlist hits within {b.settings['hit_radius_m']:g} m in the last "
                         f"{b.settings['hit_window']}.")
    if b.not_looked_up:
        parts.append("Not looked up: " + "; ".join(b.not_looked_up) + ".")
    parts.append("No person checks were made (the workbench holds no person records).")
    return " ".join(parts)
