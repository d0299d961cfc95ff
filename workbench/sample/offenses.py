"""Offence types of the synthetic scenario and their planted rates, places, times and clearance.

``OFFENSES`` is the one table of per-offence parameters; everything else in the
sample reads it. Volumes are annual counts for a city of ~360,000 residents at
``scale=1`` (rates per 100,000 close to a mid-sized US city: ~1,000 violent and
~3,500 property offences). Clearance rates are the planted baseline without the
RTCC, near the FBI's national figures.

Time profiles are in local time: ``hour_peaks`` are (hour, height, width_h)
bumps over a flat ``hour_base``; ``dow`` is a weight per weekday (Monday first);
``season`` is the amplitude of an annual cosine peaking in mid-July.

``effect_group`` is the grouping of the planted RTCC effects in
``truth["effects"]``: violent (excluding sexual assault and domestic
violence), property, sexual_assault, domestic_violence and other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_W = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
_WEEKEND = (0.92, 0.9, 0.92, 0.95, 1.08, 1.22, 1.2)
_WEEKDAY = (1.08, 1.07, 1.06, 1.05, 1.04, 0.86, 0.84)
_SHOPPING = (0.95, 0.93, 0.95, 0.98, 1.08, 1.16, 0.95)

_NIGHT = ((23.0, 3.0, 3.5), (2.0, 1.5, 2.0))
_EVENING = ((20.0, 2.5, 3.5),)
_DAY = ((12.0, 2.0, 3.5),)
_SHOP = ((15.0, 2.5, 3.0),)
_OVERNIGHT = ((2.0, 3.0, 3.5),)

# name, category, effect group, nibrs, annual count, pop / job / deprivation weights of places,
# hour base, hour peaks, dow, season amplitude, clearance rate, share of clearances that are
# exceptional, exceptional codes, median days to arrest, mean report delay (hours),
# severity probabilities (levels 1..4), investigative unit
_ROWS = [
    ("homicide", "violent", "violent", "09A", 35, 1.0, 0.1, 2.5, 0.3, _NIGHT, _WEEKEND, 0.15,
     0.50, 0.06, "A", 21.0, 0.1, (0.0, 0.0, 0.2, 0.8), "Homicide"),
    ("sexual_assault", "violent", "sexual_assault", "11A", 190, 1.0, 0.3, 1.0, 0.4, _NIGHT, _WEEKEND,
     0.12, 0.30, 0.35, "BD", 30.0, 24.0, (0.1, 0.3, 0.4, 0.2), "Special Victims"),
    ("robbery", "violent", "violent", "120", 720, 0.6, 1.0, 1.6, 0.35, _NIGHT, _WEEKEND, 0.12,
     0.25, 0.08, "BD", 9.0, 0.5, (0.2, 0.4, 0.3, 0.1), "Robbery"),
    ("aggravated_assault", "violent", "violent", "13A", 1450, 1.0, 0.4, 2.0, 0.3, _NIGHT, _WEEKEND,
     0.18, 0.45, 0.15, "BD", 4.0, 0.3, (0.15, 0.4, 0.3, 0.15), "Assault"),
    ("domestic_assault", "violent", "domestic_violence", "13B", 1350, 1.0, 0.05, 1.3, 0.5, _EVENING,
     _WEEKEND, 0.1, 0.55, 0.35, "D", 1.0, 1.0, (0.35, 0.4, 0.2, 0.05), "Domestic Violence"),
    ("burglary", "property", "property", "220", 1500, 1.0, 0.35, 1.0, 0.4, _DAY, _WEEKDAY, 0.08,
     0.13, 0.08, "BDE", 20.0, 6.0, (0.3, 0.4, 0.25, 0.05), "Burglary"),
    ("larceny", "property", "property", "23H", 7000, 0.3, 1.0, 0.5, 0.35, _SHOP, _SHOPPING, 0.1,
     0.15, 0.1, "BE", 6.0, 10.0, (0.5, 0.35, 0.12, 0.03), "Property Crimes"),
    ("theft_from_vehicle", "property", "property", "23F", 2100, 0.8, 0.6, 0.8, 0.25, _OVERNIGHT,
     _W, 0.1, 0.08, 0.1, "BE", 7.0, 9.0, (0.55, 0.35, 0.1, 0.0), "Property Crimes"),
    ("motor_vehicle_theft", "property", "property", "240", 1400, 0.8, 0.5, 1.0, 0.35, _EVENING,
     _W, 0.08, 0.10, 0.1, "BE", 10.0, 8.0, (0.3, 0.5, 0.2, 0.0), "Auto Theft"),
    ("vandalism", "other", "other", "290", 2400, 0.8, 0.5, 1.0, 0.35, _NIGHT, _WEEKEND, 0.08,
     0.12, 0.1, "BE", 8.0, 8.0, (0.6, 0.3, 0.1, 0.0), "Patrol"),
    ("drug_violation", "other", "other", "35A", 900, 0.7, 0.4, 2.2, 0.3, _SHOP, _WEEKDAY, 0.04,
     0.85, 0.03, "B", 0.0, 0.0, (0.5, 0.35, 0.15, 0.0), "Narcotics"),
    ("weapons_violation", "other", "other", "520", 320, 0.8, 0.3, 2.2, 0.3, _NIGHT, _WEEKEND, 0.1,
     0.70, 0.05, "B", 0.0, 0.2, (0.2, 0.4, 0.3, 0.1), "Gun Crimes"),
]

OFFENSES = pd.DataFrame(_ROWS, columns=[
    "offense", "offense_category", "effect_group", "nibrs_code", "annual_count", "pop_weight",
    "job_weight", "deprivation_power", "hour_base", "hour_peaks", "dow", "season",
    "clearance_rate", "exceptional_share", "exceptional_codes", "arrest_median_days",
    "report_delay_h", "severity_probs", "unit"]).set_index("offense", drop=False)
OFFENSES.index.name = None

#: Call types of the CAD calls an offence generates.
CALL_TYPES = {
    "homicide": "shooting_or_stabbing", "sexual_assault": "sexual_assault", "robbery": "robbery",
    "aggravated_assault": "assault", "domestic_assault": "domestic_disturbance",
    "burglary": "burglary", "larceny": "theft", "theft_from_vehicle": "theft_from_vehicle",
    "motor_vehicle_theft": "stolen_vehicle", "vandalism": "vandalism",
    "drug_violation": "narcotics", "weapons_violation": "weapons",
}

DESCRIPTIONS = {
    "homicide": "Murder and nonnegligent manslaughter",
    "sexual_assault": "Rape / sexual assault",
    "robbery": "Robbery",
    "aggravated_assault": "Aggravated assault",
    "domestic_assault": "Assault, domestic",
    "burglary": "Burglary / breaking and entering",
    "larceny": "Larceny / theft",
    "theft_from_vehicle": "Theft from motor vehicle",
    "motor_vehicle_theft": "Motor vehicle theft",
    "vandalism": "Destruction / damage / vandalism of property",
    "drug_violation": "Drug / narcotic violation",
    "weapons_violation": "Weapon law violation",
}


def hour_profile(base: float, peaks) -> np.ndarray:
    """Probability of each local hour 0..23: a flat base plus circular Gaussian bumps."""
    h = np.arange(24) + 0.5
    w = np.full(24, float(base))
    for centre, height, width in peaks:
        d = np.abs((h - centre + 12) % 24 - 12)
        w += height * np.exp(-0.5 * (d / width) ** 2)
    return w / w.sum()


def day_weights(offense: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """Relative weight of each local date for ``offense``: weekday profile x annual cosine."""
    row = OFFENSES.loc[offense]
    doy = dates.day_of_year.to_numpy()
    season = 1.0 + row["season"] * np.cos(2 * np.pi * (doy - 196) / 365.25)
    return np.asarray(row["dow"])[dates.day_of_week.to_numpy()] * season
