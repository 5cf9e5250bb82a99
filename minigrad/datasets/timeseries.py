"""Time series: hourly temperatures in Seattle, 2010."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._cache import DataError, PackageFile, fetch_package_files

__all__ = ["TimeSeries", "seattle_temps"]


class TimeSeries(NamedTuple):
    """``times`` datetime64[m] (L,) and ``values`` float32 (L,); unpacks as ``times, values``."""

    times: np.ndarray
    values: np.ndarray


SEATTLE_TEMPS = PackageFile("vega_datasets", "0.9.0", "vega_datasets/_data/seattle-temps.csv", "seattle-temps.csv",
                            "c220666521ff4bec4ffb6f0d9acfdc5c1056564b1aad6f78d3b06aa0a0c8b085")


def seattle_temps(root=None) -> TimeSeries:
    """Hourly temperatures in Seattle during 2010, in degrees Fahrenheit (``vega_datasets`` package).

    Returns :class:`TimeSeries`: ``times`` datetime64[m] (8759,), local
    time from 2010-01-01 00:00 to 2010-12-31 23:00, one per hour (the hour
    skipped by the daylight-saving change on 2010-03-14 is absent), and
    ``values`` float32 (8759,).
    ``minigrad.data.sliding_windows(values, window, horizon)`` turns it into
    forecasting pairs.
    """
    (path,) = fetch_package_files([SEATTLE_TEMPS], root)
    lines = path.read_text(encoding="utf-8").strip().splitlines()
    if not lines or lines[0].strip() != "date,temp":
        raise DataError(f"{path}: expected a 'date,temp' header, got {lines[0][:40] if lines else 'an empty file'!r}")
    try:
        dates, temps = zip(*(line.split(",") for line in lines[1:]))
        # "2010/01/01 00:00" -> ISO "2010-01-01T00:00", which NumPy parses in one go
        times = np.array([d.replace("/", "-").replace(" ", "T") for d in dates], dtype="datetime64[m]")
        values = np.array(temps, dtype=np.float32)
    except ValueError as e:
        raise DataError(f"{path}: cannot parse the 'date,temp' rows ({e})") from None
    return TimeSeries(times, values)
