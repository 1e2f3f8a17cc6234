"""Independent model of what EE shows for values the emulator computes:
the system properties of catalog images (from reference.py and
docs/emulator.md), Joda-Time date patterns (via Python's datetime and
zoneinfo), and Python equivalents of EE's date arithmetic."""

import calendar
import datetime
import os
import sys
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

# docs/emulator.md, "Catalog": system:version is the ingestion time in
# microseconds, a fixed delay after acquisition; SRTM has one fixed version,
# a local asset its file's modification time.
SRTM_VERSION = 1700000000000000
_INGEST_MS = {ref.S2: 2 * 86400000, ref.CSP: 2 * 86400000 + 3 * 3600000,
              ref.L9: 3 * 86400000}
_BYTES = {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4,
          "float32": 4, "float64": 8}


def asset_size(image_id):
    """docs/emulator.md: sum over bands of width * height * bytes, halved
    (SRTM: width * height * 2 / 3)."""
    if ref._short(image_id) == ref.SRTM:
        g = ref.native_grid(image_id, "elevation")
        return g["width"] * g["height"] * 2 // 3
    total = 0
    for b in ref.band_names(image_id):
        g = ref.native_grid(image_id, b)
        total += g["width"] * g["height"] * _BYTES[ref.band_type(image_id, b)]
    return total // 2


def version(image_id):
    img = ref._image(image_id)
    if img["kind"] == "srtm":
        return SRTM_VERSION
    if img["kind"] == "local":
        return img["version"]
    return (img["start_ms"] + _INGEST_MS[img["coll"]]) * 1000


def collection_version(coll_id, members=None):
    """The newest member's version (members: the ids the server holds)."""
    ids = members if members is not None else [m["id"] for m in ref.collection(coll_id)]
    return max((version(i) for i in ids), default=0)


def footprint_ring(image_id):
    """The grid rectangle's corners (UL, LL, LR, UR, UL) in lon/lat; SRTM's
    is the rectangle -180..180, -56..60 (docs/emulator.md)."""
    from osgeo import osr
    if ref._short(image_id) == ref.SRTM:
        return [[-180, 60], [-180, -56], [180, -56], [180, 60], [-180, 60]]
    g = ref.native_grid(image_id, ref.band_names(image_id)[0])
    a = g["affine"]
    corners = [(0, 0), (0, g["height"]), (g["width"], g["height"]), (g["width"], 0), (0, 0)]
    src = osr.SpatialReference()
    src.ImportFromEPSG(int(g["crs"].split(":")[1]))
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(4326)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, dst)
    out = []
    for u, v in corners:
        x, y = a[0] * u + a[1] * v + a[2], a[3] * u + a[4] * v + a[5]
        lon, lat, _ = ct.TransformPoint(x, y)
        out.append([lon, lat])
    return out


def system_properties(image_id):
    """All properties EE's getInfo shows for a loaded image, plus its id and
    version (which getInfo shows beside them)."""
    p = dict(ref.properties(image_id))
    p["system:id"] = ref._short(image_id)
    p["system:version"] = version(image_id)
    p["system:asset_size"] = asset_size(image_id)
    p["system:footprint"] = {"type": "LinearRing", "coordinates": footprint_ring(image_id)}
    return p


# ------------------------------------------------------------------ dates

def dt(ms, tz="UTC"):
    return datetime.datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(tz))


def ms_of(d):
    return int(round(d.timestamp() * 1000))


def joda(pattern, ms, tz="UTC"):
    """Joda-Time formatting of the letters EE users write, from Python's
    datetime (an independent route from the emulator's C)."""
    d = dt(ms, tz)
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            if pattern[i + 1:i + 2] == "'":      # '' is a quote
                out.append("'")
                i += 2
                continue
            i += 1                                # quoted text, '' inside is a quote
            while i < len(pattern):
                if pattern[i:i + 2] == "''":
                    out.append("'")
                    i += 2
                elif pattern[i] == "'":
                    i += 1
                    break
                else:
                    out.append(pattern[i])
                    i += 1
            continue
        if not ch.isalpha():
            out.append(ch)
            i += 1
            continue
        n = 1
        while i + n < len(pattern) and pattern[i + n] == ch:
            n += 1
        i += n
        num = lambda v: str(v).zfill(n)  # noqa: E731
        if ch in "yY":
            out.append("%02d" % (d.year % 100) if n == 2 else num(d.year))
        elif ch == "x":
            out.append(num(d.isocalendar()[0]))
        elif ch == "M":
            out.append(d.strftime("%B" if n >= 4 else "%b") if n >= 3 else num(d.month))
        elif ch == "d":
            out.append(num(d.day))
        elif ch == "D":
            out.append(num(d.timetuple().tm_yday))
        elif ch == "w":
            out.append(num(d.isocalendar()[1]))
        elif ch == "e":
            out.append(num(d.isoweekday()))
        elif ch == "E":
            out.append(d.strftime("%A" if n >= 4 else "%a"))
        elif ch == "H":
            out.append(num(d.hour))
        elif ch == "k":
            out.append(num(d.hour or 24))
        elif ch == "K":
            out.append(num(d.hour % 12))
        elif ch == "h":
            out.append(num(d.hour % 12 or 12))
        elif ch == "a":
            out.append("AM" if d.hour < 12 else "PM")
        elif ch == "m":
            out.append(num(d.minute))
        elif ch == "s":
            out.append(num(d.second))
        elif ch == "S":
            out.append(("%03d" % (d.microsecond // 1000))[:n].ljust(n, "0"))
        elif ch == "Z":
            off = d.utcoffset().total_seconds()
            sign = "-" if off < 0 else "+"
            off = abs(int(off))
            out.append("%s%02d%s%02d" % (sign, off // 3600, ":" if n == 2 else "", off // 60 % 60)
                       if n < 3 else tz)
        elif ch == "z":
            out.append(d.tzname())
        elif ch == "G":
            out.append("AD")
        else:
            raise ValueError("letter %s not modelled" % ch)
    return "".join(out)


def add_months(ms, months, tz="UTC"):
    """Joda's plusMonths on the local calendar: the day is clamped."""
    d = dt(ms, tz)
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    day = min(d.day, calendar.monthrange(y, m)[1])
    local = d.replace(tzinfo=None, year=y, month=m, day=day)
    return ms_of(local.replace(tzinfo=zoneinfo.ZoneInfo(tz)))


def add_days(ms, days, tz="UTC"):
    """Calendar days in the zone: the wall-clock time is kept."""
    d = dt(ms, tz).replace(tzinfo=None) + datetime.timedelta(days=days)
    return ms_of(d.replace(tzinfo=zoneinfo.ZoneInfo(tz)))


def local_ms(y, mo, d, h=0, mi=0, s=0, tz="UTC"):
    return ms_of(datetime.datetime(y, mo, d, h, mi, s, tzinfo=zoneinfo.ZoneInfo(tz)))
