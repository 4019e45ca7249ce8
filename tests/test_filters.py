import pytest
from rolecall import AttributeFilter, Operator
from rolecall.filters import matches

MD = {"year": 1995, "otc": True, "form": "Tablet", "tags": ["a", "b"]}


@pytest.mark.parametrize("flt, expected", [
    (AttributeFilter(field="year", op=Operator.GE, value=1990), True),
    (AttributeFilter(field="year", op=Operator.LT, value=1990), False),
    (AttributeFilter(field="year", op=Operator.EQ, value="1995"), True),
    (AttributeFilter(field="otc", value=True), True),
    (AttributeFilter(field="otc", value=1), False),
    (AttributeFilter(field="form", value="tablet"), True),
    (AttributeFilter(field="form", op=Operator.IN, value=["capsule", "tablet"]), True),
    (AttributeFilter(field="tags", op=Operator.CONTAINS, value="b"), True),
    (AttributeFilter(field="tags", value="c"), False),
    (AttributeFilter(field="missing", value=1), False),
    (AttributeFilter(field="missing", op=Operator.NE, value=1), True),
    (AttributeFilter(field="form", op=Operator.GT, value=3), False),
])
def test_filter_semantics(flt: AttributeFilter, expected: bool) -> None:
    assert matches(MD, flt) is expected
