"""Standard-library values the recorder shows by their data (docs/recorder.md)."""
import datetime
import pathlib
import uuid
from decimal import Decimal
from fractions import Fraction

from std_enums import Color, Perm

CALLS = []


class Loud(Decimal):
    def __repr__(self):
        CALLS.append("repr")
        print("Loud.__repr__ ran")
        return "loud"

    __str__ = __repr__


class Fake:
    """Pretends to be a Decimal; must be shown as what it is."""
    __class__ = property(lambda self: Decimal)

    def __repr__(self):
        print("Fake.__repr__ ran")
        return "Decimal('9')"


class Stamp(datetime.datetime):
    def isoformat(self, *a):
        print("Stamp.isoformat ran")
        return "never"


def show():
    c = complex(1, 2)
    j = 2.5j
    d = Decimal("1.50")
    big = Decimal("-12345678901234567890123.4500")
    tiny = Decimal("1E-9")
    nan = Decimal("NaN")
    loud = Loud("2.5")
    fake = Fake()
    fr = Fraction(3, 4)
    day = datetime.date(2024, 1, 2)
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5)
    precise = datetime.datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=datetime.timezone.utc)
    clock = datetime.time(13, 30)
    span = datetime.timedelta(days=1, seconds=5)
    stamp = Stamp(2020, 5, 6, 7, 8)
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    p = pathlib.Path("/a//b", "c")
    pp = pathlib.PurePosixPath("x/./y")
    pw = pathlib.PureWindowsPath("C:/a", "b")
    s = str(p)
    red = Color.RED
    green = Color.GREEN
    rw = Perm.R | Perm.W
    box = [d, fr, red]
    d = Decimal("2.75")
    amounts = [Decimal("1.1"), Decimal("2.2")]
    for k in range(2):
        amounts[k] = amounts[k] * 2
        span = span * 2
    fr._numerator = 5  # a slot changed in place: shown as it is now
    moment = moment.replace(microsecond=7)
    return box


show()
print("done", CALLS)
