"""The periods a question names, resolved in the utility's local calendar.

:func:`resolve_period` reads relative periods against ``now`` (the end of the data
by default): yesterday, the day before yesterday, N days ago, last/this week (weeks
start on Monday), the week before last, N weeks ago, last/this month, the month
before last, the last N days or weeks (the N full local days before today), the last
fortnight, last weekend, last Tuesday; and absolute ones: a date (``2026-03-20``,
``20 March``, ``March 20``, ``20/03/2026`` day first), a month (``in March``, ``March 2026``), a year, an ISO
week (``week 13``), the week of a date or ending on one, a range (``between 23 and 25 March``,
``from 23 March through 25 March``, ``23–25 March``) and ``since 1 April``. Number
words ("two weeks ago", "the last three days") are read as numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

MONTHS = {m.lower(): i for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"], start=1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items()) if k != "may"})
MONTHS["sept"] = 9
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_DATE_RE = (rf"(\d{{4}}-\d{{2}}-\d{{2}}|\d{{4}}/\d{{1,2}}/\d{{1,2}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{4}}"
            rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH_RE})"
            rf"(?:\s+\d{{4}})?|(?:{_MONTH_RE})\s+\d{{1,2}}(?!\d)(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)")
#: words between the two ends of a range ("from A through B", "A – B")
_TO = r"(?:and|to|until|till|through|thru|up\s+to|up\s+until|-|–|—)"
#: number words read as numbers in periods ("two weeks ago")
NUMBERS = {w: i for i, w in enumerate(re.findall(r"\w+", """
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty"""))}
NUMBERS.update({"a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "thirty": 30})

#: words of periods (correction targets, and the words around a corrected one)
PERIOD_WORDS: tuple[str, ...] = (
    "yesterday", "today", "day", "days", "week", "weeks", "month", "months", "last", "this",
    "past", "previous", "between", "starting", "beginning", "before", "fortnight", "ago",
    "weekend", "through", "since", *WEEKDAYS, *(m for m in MONTHS if len(m) > 3 and m != "sept"))
#: period phrases that :func:`resolve_period` reads (offered when a period is not understood)
PERIOD_PHRASES: tuple[str, ...] = (
    "yesterday", "today", "the day before yesterday", "last week", "this week",
    "the week before last", "last month", "this month", "the last 7 days", "the last 4 weeks",
    "3 days ago", "last weekend")


@dataclass(frozen=True)
class Period:
    """A local-time period ``[start, end)`` and the golden-table level that holds it whole."""

    start: pd.Timestamp
    end: pd.Timestamp
    label: str
    level: str | None       # "1D", "1W", "1M" when the period is one period of that level

    def describe(self) -> str:
        last = (self.end - pd.Timedelta(1, "ns")).date()
        span = str(self.start.date()) if last == self.start.date() else \
            f"{self.start.date()} → {last}"
        return f"{self.label} ({span}, {self.start.tz})" if self.label else \
            f"{span} ({self.start.tz})"


class BadDate(ValueError):
    """A date in a question that is no day of the calendar (2026-02-30)."""

    def __init__(self, text: str, reason: str):
        super().__init__(f"{text!r} is not a date ({reason})")
        self.text = text


class VaguePeriod(BadDate):
    """Words that name a period only roughly ("the first week of April", "late March")."""

    def __init__(self, text: str, reason: str):
        ValueError.__init__(self, f"cannot read {text!r} as one period ({reason})")
        self.text = text


def _date(text: str, now: pd.Timestamp, past: bool = True) -> pd.Timestamp:
    try:
        return _parse_date(text, now, past)
    except (ValueError, KeyError, IndexError) as exc:
        raise BadDate(text.strip(), str(exc).split(":")[0]) from None


def _parse_date(text: str, now: pd.Timestamp, past: bool = True) -> pd.Timestamp:
    """A date; one without a year is the last one before ``now`` (``past``) or in ``now``'s
    year."""
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().lower()).replace(",", "")
    text = re.sub(r"\bof\s+", "", text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        d = pd.Timestamp(text)
    elif m := re.fullmatch(r"(\d{4})/(\d{1,2})/(\d{1,2})", text):
        d = pd.Timestamp(year=int(m.group(1)), month=int(m.group(2)), day=int(m.group(3)))
    elif m := re.fullmatch(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", text):
        a, b = int(m.group(1)), int(m.group(2))   # day first (Europe), unless it cannot be
        day, month = (b, a) if b > 12 >= a else (a, b)
        d = pd.Timestamp(year=int(m.group(3)), month=month, day=day)
    else:
        parts = text.split()
        if parts[0].isdigit():
            day, month = int(parts[0]), MONTHS[parts[1]]
        else:
            month, day = MONTHS[parts[0]], int(parts[1])
        year = int(parts[2]) if len(parts) > 2 else now.year
        d = pd.Timestamp(year=year, month=month, day=day)
        if past and len(parts) <= 2 and d.tz_localize(now.tz) > now:
            d = d.replace(year=year - 1)
    return d.tz_localize(now.tz)


def _period(question: str, now: pd.Timestamp) -> Period | bool | None:
    """:func:`resolve_period`, a question naming a day that does not exist reading as True
    (it names a period, an unreadable one)."""
    try:
        return resolve_period(question, now)
    except BadDate:
        return True


def numbers_as_digits(text: str) -> str:
    """Number words before a day, week or month word as digits ("two weeks ago" → "2 weeks
    ago", "the last three days" → "the last 3 days")."""
    words = "|".join(sorted(map(re.escape, NUMBERS), key=len, reverse=True))
    return re.sub(rf"\b({words})\s+(?=(?:full\s+|whole\s+|complete\s+)?(?:days?|weeks?|months?)\b)",
                  lambda m: f"{NUMBERS[m.group(1)]} ", text)


def resolve_period(question: str, now: pd.Timestamp, past: bool = True) -> Period | None:
    """The period a question names, in ``now``'s time zone; None when it names none.

    ``now`` is a tz-aware local time (the end of the data by default). Days,
    weeks (Monday) and months follow local midnight; "the last N days" are the N full
    days before the day of ``now``. A month or date named without a year is the last one
    before ``now`` (``past``, for data), or the one in ``now``'s year (for a calendar:
    "holidays in May").

    Examples
    --------
    >>> now = pd.Timestamp("2026-04-06 02:00", tz="Europe/Amsterdam")
    >>> p = resolve_period("energy of N-P1 the week before last", now)
    >>> str(p.start.date()), str(p.end.date()), p.level
    ('2026-03-23', '2026-03-30', '1W')
    >>> resolve_period("starts two days ago", now).describe()
    '2 days ago (2026-04-04, Europe/Amsterdam)'
    >>> resolve_period("cost from 23 March through 25 March", now).describe()
    '2026-03-23 → 2026-03-25 (Europe/Amsterdam)'
    """
    q = numbers_as_digits(question.lower())
    q = re.sub(rf"\b(since|from|after)\s+(?:the\s+)?(?:beginning|start)\s+of\s+({_MONTH_RE})\b",
               r"\1 1 \2", q)
    return _part_of_month(q, now, past) or _relative(q, now) or _absolute(q, now, past)


_NTH = r"first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|final"


def _part_of_month(q: str, now: pd.Timestamp, past: bool = True) -> Period | None:
    """The first or last day of a month; a vaguer part of one ("the first week of April",
    "the end of March", "mid-March") is no period that can be read exactly and raises
    :class:`VaguePeriod` (reported, never widened to the whole month)."""
    m = re.search(rf"\b(?:the\s+)?(first|1st|last|final)\s+day\s+of\s+(?:the\s+month\s+of\s+)?"
                  rf"({_MONTH_RE})\b(?:\s+(\d{{4}}))?", q)
    if m:
        start = _month_start(m.group(2), m.group(3), now, past)
        d = start if m.group(1) in ("first", "1st") else \
            (start.tz_localize(None) + pd.offsets.MonthEnd(1)).tz_localize(now.tz)
        return Period(d, (d.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(now.tz), "",
                      "1D")
    m = re.search(rf"\b(?:the\s+)?(?:(?:{_NTH})\s+(?:\d+\s+)?(?:weeks?|weekends?|fortnight|half|"
                  rf"quarter|days|(?:mon|tues|wednes|thurs|fri|satur|sun)day)|beginning|start|"
                  rf"end|middle|mid|early|late|second half|first half)(?:\s+of\s+|\s*-\s*|\s+)"
                  rf"(?:the\s+month\s+of\s+)?({_MONTH_RE})\b(?:\s+\d{{4}})?", q)
    if m:
        a = _month_start(m.group(1), None, now, past)
        raise VaguePeriod(m.group(0), f"a part of a month; name its dates, e.g. 'between "
                          f"{a.date()} and {(a + pd.Timedelta(days=6)).date()}', or the week of "
                          "a date")
    return None


def _month_start(name: str, year: str | None, now: pd.Timestamp, past: bool) -> pd.Timestamp:
    month = MONTHS.get(name, 5)
    start = pd.Timestamp(year=int(year) if year else now.year, month=month, day=1)
    if past and not year and start.tz_localize(now.tz) > now:
        start = start.replace(year=start.year - 1)
    return start.tz_localize(now.tz)


def _relative(q: str, now: pd.Timestamp) -> Period | None:
    """Periods counted back from ``now``: days, weeks, weekends, weekdays, months."""
    today = now.normalize()
    day = pd.Timedelta(days=1)

    def at(naive):
        return naive.tz_localize(now.tz)

    def local(ts):  # wall-clock day arithmetic across DST
        return ts.tz_localize(None)

    def days(start, n, label, level=None):
        return Period(start, at(local(start) + n * day), label, level)

    if re.search(r"\bday before yesterday\b", q):
        return days(at(local(today) - 2 * day), 1, "the day before yesterday", "1D")
    m = re.search(r"\b(\d+)\s+days?\s+ago\b", q)
    if m and int(m.group(1)) >= 1:
        n = int(m.group(1))
        return days(at(local(today) - n * day), 1, f"{n} day{'s' * (n > 1)} ago", "1D")
    if re.search(r"\byesterday\b", q):
        return days(at(local(today) - day), 1, "yesterday", "1D")
    if re.search(r"\btoday\b", q):
        return days(today, 1, "today", "1D")
    monday = at(local(today) - today.day_of_week * day)
    m = re.search(r"\b(?:the\s+)?weeks?\s+(?:before|prior\s+to)\s+(?:the\s+)?last(?:\s+week)?\b|"
                  r"\b(\d+)\s+weeks?\s+ago\b|\bthe\s+week\s+before\s+the\s+last\s+week\b", q)
    if m:
        n = int(m.group(1)) if m.group(1) else 2
        label = "the week before last" if n == 2 else f"{n} weeks ago"
        return days(at(local(monday) - 7 * n * day), 7, "last week" if n == 1 else label, "1W")
    m = re.search(r"\b(?:last|past|previous|prior)\s+(\d+)\s+(?:full\s+|whole\s+|complete\s+)?"
                  r"(day|week)s?\b", q)
    if m:
        n = int(m.group(1)) * (7 if m.group(2) == "week" else 1)
        return days(at(local(today) - n * day), n, f"the last {m.group(1)} {m.group(2)}s")
    if re.search(r"\b(?:last|past|previous)\s+fortnight\b", q):
        return days(at(local(today) - 14 * day), 14, "the last fortnight")
    if re.search(r"\b(?:last|past|previous|this past)\s+weekend\b|\bover\s+the\s+(?:last\s+)?"
                 r"weekend\b", q):
        back = (today.day_of_week - 5) % 7 or 7          # the last Saturday with its Sunday
        sat = at(local(today) - back * day)
        if local(sat) + 2 * day > local(today):
            sat = at(local(sat) - 7 * day)
        return days(sat, 2, "last weekend")
    m = re.search(rf"\b(?:last|past|previous|this past)\s+({'|'.join(WEEKDAYS)})\b", q)
    if m:
        back = (today.day_of_week - WEEKDAYS.index(m.group(1))) % 7 or 7
        return days(at(local(today) - back * day), 1, f"last {m.group(1).capitalize()}", "1D")
    if re.search(r"\b(?:last|previous|past|latest|most recent)\s+(?:full\s+|complete\s+|whole\s+)?"
                 r"week\b|\bthe\s+last\s+week\s+of\s+(?:the\s+)?data\b", q):
        return days(at(local(monday) - 7 * day), 7, "last week", "1W")
    if re.search(r"\b(?:last|latest|most recent)\s+(?:full\s+|complete\s+|whole\s+)day\b", q):
        return days(at(local(today) - day), 1, "yesterday", "1D")
    if re.search(r"\bthis week\b", q):
        return days(monday, 7, "this week", "1W")
    first = at(local(today).replace(day=1))
    m = re.search(r"\b(?:the\s+)?month\s+before\s+last\b|\b(\d+)\s+months?\s+ago\b", q)
    if m:
        start = first
        for _ in range(int(m.group(1)) if m.group(1) else 2):
            start = at((local(start) - day).replace(day=1))
        return Period(start, at(local(start) + pd.offsets.MonthBegin(1)),
                      f"in {start.strftime('%B %Y')}", "1M")
    if re.search(r"\b(?:last|previous|past|latest|most recent)\s+(?:full\s+|complete\s+|whole\s+)?"
                 r"month\b", q):
        start = at((local(first) - day).replace(day=1))
        return Period(start, first, "last month", "1M")
    if re.search(r"\bthis month\b", q):
        return Period(first, at(local(first) + pd.offsets.MonthBegin(1)), "this month", "1M")
    return None


def _absolute(q: str, now: pd.Timestamp, past: bool = True) -> Period | None:
    """Periods named by dates: ranges, weeks of a date or ISO weeks, days, years, months."""
    day = pd.Timedelta(days=1)

    def at(naive):
        return naive.tz_localize(now.tz)

    def local(ts):
        return ts.tz_localize(None)

    def span(a, b):
        if b < a:
            a, b = b, a
        return Period(a, at(local(b) + day), "", None)

    m = re.search(rf"\b(?:between|from)\s+{_DATE_RE}\s+{_TO}\s+{_DATE_RE}", q) or \
        re.search(rf"{_DATE_RE}\s*(?:{_TO})\s*{_DATE_RE}", q)
    if m:
        return span(_date(m.group(1), now, past), _date(m.group(2), now, past))
    m = re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s*{_TO}\s*(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?"
                  rf"({_MONTH_RE})\b(?:\s+(\d{{4}}))?", q) or \
        re.search(rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\s*{_TO}\s*(\d{{1,2}})(?!\d)"
                  rf"(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?", q)
    if m:
        g = m.groups()
        (a, b, mon), year = ((g[0], g[1], g[2]) if g[0].isdigit() else (g[1], g[2], g[0])), g[3]
        tail = f" {mon}" + (f" {year}" if year else "")
        return span(_date(a + tail, now, past), _date(b + tail, now, past))
    m = re.search(rf"\bsince\s+{_DATE_RE}", q)
    if m:
        a = _date(m.group(1), now, past)
        return Period(a, now.normalize(), f"since {a.date()}", None) if a < now.normalize() \
            else Period(a, at(local(a) + day), "", "1D")
    m = re.search(rf"\bweek\s+(?:ending|ended|ending on|to)\s+(?:on\s+)?(?:sunday\s+)?{_DATE_RE}",
                  q)
    if m:                                   # the seven days ending on that day
        d = _date(m.group(1), now, past)
        start = at(local(d) - 6 * day)
        return Period(start, at(local(d) + day), f"the week ending {d.date()}",
                      "1W" if start.day_of_week == 0 else None)
    m = re.search(rf"\bweek\s+(?:of|starting|beginning|commencing)\s+(?:on\s+)?{_DATE_RE}", q)
    if m:
        d = _date(m.group(1), now, past)
        start = at(local(d) - d.day_of_week * day)
        return Period(start, at(local(start) + 7 * day), f"the week of {start.date()}", "1W")
    m = re.search(r"\b(?:iso\s+|calendar\s+)?week\s*(?:no\.?\s*|number\s+|#\s*)?(\d{1,2})\b"
                  r"(?:\s+(?:of\s+)?(\d{4}))?(?![-:\d])", q)
    if m and 1 <= int(m.group(1)) <= 53:
        year = int(m.group(2)) if m.group(2) else now.year
        try:
            d = pd.Timestamp.fromisocalendar(year, int(m.group(1)), 1)
        except ValueError as exc:
            raise BadDate(m.group(0), str(exc)) from None
        start = at(d)
        return Period(start, at(local(start) + 7 * day), f"week {int(m.group(1))} of {year}",
                      "1W")
    m = re.search(_DATE_RE, q)
    if m:
        d = _date(m.group(1), now, past)
        return Period(d, at(local(d) + day), "", "1D")
    m = re.search(r"\b(?:in|during|for|of|over)\s+(?:the\s+year\s+)?(\d{4})\b(?!-)", q)
    if m and not re.search(rf"\b(?:{_MONTH_RE})\s+{m.group(1)}\b", q):
        start = pd.Timestamp(year=int(m.group(1)), month=1, day=1).tz_localize(now.tz)
        return Period(start, at(local(start) + pd.offsets.YearBegin(1)), f"in {m.group(1)}", None)
    m = re.search(rf"\b(?:in|during|for|of|over)\s+(?:the\s+month\s+of\s+)?(may|{_MONTH_RE})"
                  rf"(?:\s+(\d{{4}}))?\b", q) or re.search(rf"\b({_MONTH_RE})(?:\s+(\d{{4}}))\b", q)
    if m:
        month = MONTHS[m.group(1)] if m.group(1) != "may" else 5
        year = int(m.group(2)) if m.group(2) else now.year
        start = pd.Timestamp(year=year, month=month, day=1).tz_localize(now.tz)
        if past and not m.group(2) and start > now:
            start = pd.Timestamp(year=year - 1, month=month, day=1).tz_localize(now.tz)
        end = at(local(start) + pd.offsets.MonthBegin(1))
        return Period(start, end, f"in {start.strftime('%B %Y')}", "1M")
    return None


def typed_period(question: str) -> str | None:
    """The words of ``question`` that name a date, a month or a year, as typed (None: none)."""
    low = question.lower()
    for pat in (_DATE_RE, rf"\b(?:{_MONTH_RE})\b(?:\s+\d{{4}})?", r"(?<!\d)(?:19|20)\d\d(?!\d)"):
        m = re.search(pat, low)
        if m:
            return question[m.start():m.end()]
    return None


def period_phrase(period: Period) -> str:
    """Words that :func:`resolve_period` reads back as ``period``."""
    if period.label:
        return period.label
    last = (period.end - pd.Timedelta(1, "ns")).date()
    if last == period.start.date():
        return f"on {period.start.date()}"
    return f"between {period.start.date()} and {last}"
