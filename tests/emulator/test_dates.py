"""Dates through value:compute: Date (with timeZone), Date.format with
Joda patterns and time zones, Date.get / getRange / getFraction /
getRelative / advance / difference / fromYMD / parse / update /
unitRatio, DateRange methods, Filter.calendarRange / dayOfYear on the
catalog's collections, and the error texts. Every expected value comes
from Python's datetime and zoneinfo (tests/emulator/ref_values.py) or
reference.py."""

import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import ref_values as rv  # noqa: E402
import reference as ref  # noqa: E402
from emulib import c, call  # noqa: E402

FAILS = []
LA, BERLIN, SYDNEY, KOLKATA = "America/Los_Angeles", "Europe/Berlin", "Australia/Sydney", \
    "Asia/Kolkata"
# instants: ordinary, a leap day, around the US spring-forward and
# fall-back changes, a negative epoch value, and past 2037 (the zone's rule)
INSTANTS = [1692360000000, rv.local_ms(2024, 2, 29, 23, 59, 59), rv.local_ms(2023, 3, 12, 9, 59, 59),
            rv.local_ms(2023, 3, 12, 10, 0, 0), rv.local_ms(2023, 11, 5, 8, 30), 1699175400123,
            -86400000 * 400 + 12345, rv.local_ms(2045, 7, 1, 12), rv.local_ms(2021, 1, 3, 5),
            rv.local_ms(2020, 12, 31, 23)]


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


value = emulib.compute_value


def values(emu, nodes):
    """Many values in one request (a list)."""
    return value(emu, {"arrayValue": {"values": nodes}})


error = emulib.compute_error


def date(ms):
    return call("Date", value=c(ms))


def tzargs(tz):
    return {"timeZone": c(tz)} if tz != "UTC" else {}


def test_format(emu):
    patterns = ["yyyy-MM-dd", "YYYY-MM-dd'T'HH:mm:ss", "yyyyMMdd", "D DDD", "EEE EEEE MMM MMMM",
                "h:mm a", "k K H", "xxxx-'W'ww-e", "yy", "HH:mm:ss.SSS Z", "ZZ", "z",
                "dd/MM/yyyy 'at' HH 'o''clock'", "G yyyy", "S SS"]
    nodes, want = [], []
    for tz in ("UTC", LA, BERLIN, SYDNEY, KOLKATA):
        for ms in INSTANTS:
            for p in patterns:
                if p == "z" and tz != "UTC":
                    continue   # zone names: checked for UTC only
                nodes.append(call("Date.format", date=date(ms), format=c(p), **tzargs(tz)))
                want.append((rv.joda(p, ms, tz), p, ms, tz))
            nodes.append(call("Date.format", date=date(ms), **tzargs(tz)))
            want.append((rv.joda("yyyy-MM-dd'T'HH:mm:ss", ms, tz), "(default)", ms, tz))
    got = values(emu, nodes)
    bad = [(g, w) for g, w in zip(got, want) if g != w[0]]
    check(not bad, "Date.format: %d of %d differ, e.g. %s" % (len(bad), len(want), bad[:3]))
    # the documented examples of ee.Date.format
    d = call("Date", value=c("2020-08-18"))
    for tz, want1 in (("GMT", "2020-08-18T00:00:00"), ("Etc/GMT+8", "2020-08-17T16:00:00"),
                      ("America/Los_Angeles", "2020-08-17T17:00:00"),
                      ("Australia/Tasmania", "2020-08-18T10:00:00"), ("Zulu", "2020-08-18T00:00:00"),
                      ("+05:30", "2020-08-18T05:30:00")):
        check(value(emu, call("Date.format", date=d, timeZone=c(tz))) == want1,
              "format in %s" % tz)


def test_fields(emu):
    nodes, want = [], []
    for tz in ("UTC", LA, SYDNEY):
        for ms in INSTANTS:
            d = rv.dt(ms, tz)
            for unit, w in (("year", d.year), ("month", d.month), ("week", d.isocalendar()[1]),
                            ("day", d.day), ("hour", d.hour), ("minute", d.minute),
                            ("second", d.second)):
                nodes.append(call("Date.get", date=date(ms), unit=c(unit), **tzargs(tz)))
                want.append((w, "get", unit, ms, tz))
            # getRange: [start of the unit, start of the next) in the zone
            for unit in ("year", "month", "week", "day", "hour"):
                loc = d.replace(tzinfo=None)
                if unit == "year":
                    s = loc.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
                    e = s.replace(year=s.year + 1)
                elif unit == "month":
                    s = loc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                    e = (s + datetime.timedelta(days=32)).replace(day=1)
                elif unit == "week":
                    s = (loc - datetime.timedelta(days=loc.weekday())).replace(
                        hour=0, minute=0, second=0, microsecond=0)
                    e = s + datetime.timedelta(days=7)
                elif unit == "day":
                    s = loc.replace(hour=0, minute=0, second=0, microsecond=0)
                    e = s + datetime.timedelta(days=1)
                else:
                    s = loc.replace(minute=0, second=0, microsecond=0)
                    e = s + datetime.timedelta(hours=1)
                z = rv.zoneinfo.ZoneInfo(tz)
                w = {"type": "DateRange", "dates": [rv.ms_of(s.replace(tzinfo=z)),
                                                    rv.ms_of(e.replace(tzinfo=z))]}
                if unit == "hour" and tz != "UTC":
                    continue   # an hour range across a change is not well defined in local time
                nodes.append(call("Date.getRange", date=date(ms), unit=c(unit), **tzargs(tz)))
                want.append((w, "getRange", unit, ms, tz))
            # getFraction of the day, getRelative day in year / month in year
            z = rv.zoneinfo.ZoneInfo(tz)
            loc = d.replace(tzinfo=None)
            s = loc.replace(hour=0, minute=0, second=0, microsecond=0)
            s0, s1 = rv.ms_of(s.replace(tzinfo=z)), rv.ms_of((s + datetime.timedelta(days=1)).replace(tzinfo=z))
            nodes.append(call("Date.getFraction", date=date(ms), unit=c("day"), **tzargs(tz)))
            want.append((None if s1 - s0 != 86400000 else (ms - s0) / 86400000, "fraction", "day",
                         ms, tz))
            nodes.append(call("Date.getRelative", date=date(ms), unit=c("day"), inUnit=c("year"),
                              **tzargs(tz)))
            want.append((d.timetuple().tm_yday - 1, "relative", "day/year", ms, tz))
            nodes.append(call("Date.getRelative", date=date(ms), unit=c("month"),
                              inUnit=c("year"), **tzargs(tz)))
            want.append((d.month - 1, "relative", "month/year", ms, tz))
    got = values(emu, nodes)
    bad = []
    for g, w in zip(got, want):
        if w[0] is None:
            continue
        if isinstance(w[0], float):
            if abs(g - w[0]) > 1e-12:
                bad.append((g, w))
        elif g != w[0]:
            bad.append((g, w))
    check(not bad, "Date.get/getRange/getFraction/getRelative: %d of %d differ, e.g. %s"
          % (len(bad), len(want), bad[:3]))


def test_arithmetic(emu):
    nodes, want = [], []
    starts = [rv.local_ms(2023, 1, 31, 6), rv.local_ms(2024, 2, 29, 12), rv.local_ms(2023, 3, 11, 12),
              rv.local_ms(2023, 10, 31, 23, 30), rv.local_ms(2022, 12, 31)]
    for tz in ("UTC", LA, SYDNEY):
        for ms in starts:
            for delta in (1, -1, 13, 0):
                nodes.append(call("Date.advance", date=date(ms), delta=c(delta), unit=c("month"),
                                  **tzargs(tz)))
                want.append((rv.add_months(ms, delta, tz), "month", delta, ms, tz))
                nodes.append(call("Date.advance", date=date(ms), delta=c(delta), unit=c("year"),
                                  **tzargs(tz)))
                want.append((rv.add_months(ms, 12 * delta, tz), "year", delta, ms, tz))
                nodes.append(call("Date.advance", date=date(ms), delta=c(delta), unit=c("day"),
                                  **tzargs(tz)))
                want.append((rv.add_days(ms, delta, tz), "day", delta, ms, tz))
                nodes.append(call("Date.advance", date=date(ms), delta=c(delta), unit=c("weeks"),
                                  **tzargs(tz)))
                want.append((rv.add_days(ms, 7 * delta, tz), "week", delta, ms, tz))
                nodes.append(call("Date.advance", date=date(ms), delta=c(delta * 1.5),
                                  unit=c("hour"), **tzargs(tz)))
                want.append((ms + int(delta * 1.5 * 3600000), "hour", delta * 1.5, ms, tz))
    got = values(emu, nodes)
    bad = [(g, w) for g, w in zip(got, want) if g != {"type": "Date", "value": w[0]}]
    check(not bad, "Date.advance: %d of %d differ, e.g. %s" % (len(bad), len(want), bad[:3]))
    a, b = rv.local_ms(2020, 1, 15), rv.local_ms(2020, 1, 1)
    for unit, div in (("days", 86400000), ("week", 604800000), ("hour", 3600000),
                      ("month", 31556952000 / 12), ("year", 31556952000), ("second", 1000)):
        got = value(emu, call("Date.difference", date=date(a), start=date(b), unit=c(unit)))
        check(abs(got - (a - b) / div) < 1e-12, "Date.difference %s: %s" % (unit, got))
    check(value(emu, call("Date.unitRatio", numerator=c("day"), denominator=c("minute"))) == 1440,
          "unitRatio day/minute")
    # fromYMD, parse, update, Date with a zone
    for tz in ("UTC", LA, KOLKATA):
        got = value(emu, call("Date.fromYMD", year=c(2023), month=c(3), day=c(12), **tzargs(tz)))
        check(got["value"] == rv.local_ms(2023, 3, 12, tz=tz), "fromYMD in %s" % tz)
        got = value(emu, call("Date", value=c("2023-07-04T09:30:00"), **tzargs(tz)))
        check(got["value"] == rv.local_ms(2023, 7, 4, 9, 30, tz=tz), "Date(string, %s)" % tz)
        got = value(emu, call("Date.parse", format=c("dd/MM/yyyy HH:mm"), date=c("05/11/2023 01:30"),
                              **tzargs(tz)))
        check(got["value"] == rv.local_ms(2023, 11, 5, 1, 30, tz=tz), "Date.parse in %s" % tz)
    got = value(emu, call("Date", value=c("2023-07-04T09:30:00+02:00"), timeZone=c(LA)))
    check(got["value"] == rv.local_ms(2023, 7, 4, 7, 30), "a string's own offset wins over timeZone")
    for pat, text, w in (("yyyyMMdd", "20230105", rv.local_ms(2023, 1, 5)),
                         ("yyyy-DDD", "2024-060", rv.local_ms(2024, 2, 29)),
                         ("MMM d, yyyy h:mm a", "Mar 7, 2023 3:04 PM", rv.local_ms(2023, 3, 7, 15, 4)),
                         ("yyyy-MM-dd'T'HH:mm:ssZ", "2023-01-01T10:00:00-0500",
                          rv.local_ms(2023, 1, 1, 15))):
        got = value(emu, call("Date.parse", format=c(pat), date=c(text)))
        check(got["value"] == w, "Date.parse %s %s: %s" % (pat, text, got))
    got = value(emu, call("Date.update", date=date(rv.local_ms(2023, 5, 6, 7, 8, 9)), year=c(2020),
                          day=c(1), second=c(30.5)))
    check(got["value"] == rv.local_ms(2020, 5, 1, 7, 8, 30) + 500, "Date.update %s" % got)
    for s, w in (("2013-3-15", rv.local_ms(2013, 3, 15)), ("2023", rv.local_ms(2023, 1, 1)),
                 ("2020-08-18 12:00", rv.local_ms(2020, 8, 18, 12)),
                 ("2020-08-18T12:00:00.25Z", rv.local_ms(2020, 8, 18, 12) + 250)):
        got = value(emu, call("Date", value=c(s)))
        check(got["value"] == w, "Date(%r): %s" % (s, got))


def test_ranges(emu):
    r = call("DateRange", start=c("2023-01-01"), end=c("2023-02-01"))
    check(value(emu, call("DateRange.start", dateRange=r))["value"] == rv.local_ms(2023, 1, 1),
          "DateRange.start")
    check(value(emu, call("DateRange.end", dateRange=r))["value"] == rv.local_ms(2023, 2, 1),
          "DateRange.end")
    for other, w in ((c("2023-01-31T23:59:59"), True), (c("2023-02-01"), False),
                     (c(rv.local_ms(2022, 12, 31, 23, 59, 59)), False),
                     (call("DateRange", start=c("2023-01-05"), end=c("2023-01-07")), True),
                     (call("DateRange", start=c("2023-01-05"), end=c("2023-02-07")), False)):
        check(value(emu, call("DateRange.contains", dateRange=r, other=other)) is w,
              "DateRange.contains %s" % other)
    rla = value(emu, call("DateRange", start=c("2023-06-01"), end=c("2023-06-02"), timeZone=c(LA)))
    check(rla["dates"] == [rv.local_ms(2023, 6, 1, tz=LA), rv.local_ms(2023, 6, 2, tz=LA)],
          "DateRange in a zone %s" % rla)
    check(value(emu, call("DateRange.intersects", dateRange=r, other=call(
        "DateRange", start=c("2023-01-31"), end=c("2023-03-01")))) is True, "intersects")
    u = value(emu, call("DateRange.union", dateRange=r, other=call(
        "DateRange", start=c("2023-03-01"), end=c("2023-04-01"))))
    check(u["dates"] == [rv.local_ms(2023, 1, 1), rv.local_ms(2023, 4, 1)], "union %s" % u)


def test_calendar_filters(emu):
    def ids(filt, cid):
        return value(emu, call("AggregateFeatureCollection.array", property=c("system:index"),
                               collection=call("Collection.filter", collection=call(
                                   "ImageCollection.load", id=c(cid)), filter=filt)))

    def want(cid, pred):
        return [m["properties"]["system:index"] for m in ref.collection(cid)
                if pred(rv.dt(m["start_ms"]))]

    cases = [
        (dict(start=c(6), end=c(8), field=c("month")), lambda d: 6 <= d.month <= 8),
        (dict(start=c(12), end=c(2), field=c("month")), lambda d: d.month >= 12 or d.month <= 2),
        (dict(start=c(3), field=c("month")), lambda d: d.month == 3),
        (dict(start=c(2023), end=c(2023), field=c("year")), lambda d: d.year == 2023),
        (dict(start=c(6), end=c(7), field=c("day_of_week")), lambda d: d.isoweekday() >= 6),
        (dict(start=c(28), end=c(3), field=c("day_of_month")), lambda d: d.day >= 28 or d.day <= 3),
        (dict(start=c(10), end=c(10), field=c("hour")), lambda d: d.hour == 10),
        (dict(start=c(5), end=c(10), field=c("minute")), lambda d: 5 <= d.minute <= 10),
        (dict(start=c(350), end=c(20)), lambda d: d.timetuple().tm_yday >= 350 or
         d.timetuple().tm_yday <= 20),
    ]
    for cid in (ref.S2, ref.L9):
        for args, pred in cases:
            got = ids(call("Filter.calendarRange", **args), cid)
            check(got == want(cid, pred), "calendarRange %s on %s: %d vs %d" % (
                {k: v["constantValue"] for k, v in args.items()}, cid, len(got),
                len(want(cid, pred))))
    got = ids(call("Filter.dayOfYear", start=c(100), end=c(160)), ref.L9)
    check(got == want(ref.L9, lambda d: 100 <= d.timetuple().tm_yday <= 160), "dayOfYear")
    # Filter.date as the clients send it, with a lenient date string
    got = ids(call("Filter.dateRangeContains", leftValue=call(
        "DateRange", start=c("2023-3-1"), end=c("2023-4-1")), rightField=c("system:time_start")),
        ref.L9)
    check(got == want(ref.L9, lambda d: d.month == 3), "filterDate with '2023-3-1'")


def test_errors(emu):
    d = date(0)
    for node, w in (
            (call("Date.format", date=d, timeZone=c("Mars/Olympus")),
             "Date.format: The datetime zone id 'Mars/Olympus' is not recognised"),
            (call("Date.get", date=d, unit=c("fortnight")),
             "Date.get: Unknown unit: 'fortnight'. Expected one of year, month, week, day, hour, "
             "minute or second."),
            (call("Date.format", date=d, format=c("yyyy-MM-dd qq")),
             "Date.format: Illegal pattern component: q"),
            (call("Date", value=c("yesterday")), "Date: Unable to parse date 'yesterday'."),
            (call("Date.fromYMD", year=c(2023), month=c(13), day=c(1)),
             "Date.fromYMD: Value 13 for monthOfYear must be in the range [1,12]"),
            (call("Date.parse", format=c("yyyy-MM-dd"), date=c("2023-01-xx")),
             "Date.parse: Invalid format: \"2023-01-xx\" is malformed at \"xx\""),
            (call("Filter.calendarRange", start=c(1), field=c("fortnight")),
             "Filter.calendarRange: Unknown calendar field 'fortnight'. Options are: year, month, "
             "hour, minute, day_of_year, day_of_month and day_of_week."),
            (call("DateRange.start", dateRange=c(5)),
             "DateRange.start, argument 'dateRange': Invalid type.\nExpected type: DateRange.\n"
             "Actual type: Integer.")):
        got = error(emu, node)
        check(got == w, "error %r, want %r" % (got, w))


def main():
    with emulib.Emulator() as emu:
        emulib.run_each([test_format, test_fields, test_arithmetic, test_ranges, test_calendar_filters,
                         test_errors], FAILS, emu)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
