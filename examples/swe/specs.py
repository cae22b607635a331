"""The built-in SWE-style instances, as edits to the sample repositories.

Each spec: the issue text, the gold ``fix`` and the ``tests`` the fix is judged by, as
``(path, old, new)`` string edits (``old=None`` appends), and the FAIL_TO_PASS ids the author
expects (``build_instances.py`` checks them against a real run).
"""

TRUNC_TEST = '''

@pytest.mark.parametrize(
    "text",
    ["hello world", pytest.param("[x] = y", id="brackets [x] and spaces")],
)
def test_exact_fit_is_untouched(text):
    assert truncate(text, len(text)) == text
'''

SLUG_TEST = '''

def test_punctuation_runs_collapse():
    assert slugify("Hello,   World!") == "hello-world"


def test_no_leading_or_trailing_separator():
    assert slugify("  -- Release notes (v2) --  ") == "release-notes-v2"
'''

MERGE_TEST = '''

def test_contained_interval_does_not_shrink():
    assert merge([iv(1, 10), iv(2, 3)]) == [iv(1, 10)]
    assert total_length([iv(0, 100), iv(10, 20), iv(30, 40)]) == 100
'''

GAPS_TEST = '''

def test_nothing_covered_is_one_gap():
    assert gaps([], 0, 10) == [Interval(0, 10)]


def test_intervals_outside_range_leave_it_uncovered():
    assert gaps([Interval(20, 30)], 0, 10) == [Interval(0, 10)]
'''

ORDER_TEST = '''

    @pytest.mark.parametrize("pre, release", [("1.0.0-rc.1", "1.0.0"), ("2.1.0-alpha", "2.1.0")])
    def test_prerelease_sorts_before_release(self, pre, release):
        assert parse(pre) < parse(release)
        assert not parse(release) < parse(pre)
        assert max(parse(pre), parse(release)) == parse(release)
'''

BUILD_TEST = '''

@pytest.mark.parametrize("text, build", [("1.2.3+build.5", "build.5"), ("1.0.0-rc.1+exp.sha.5114f85", "exp.sha.5114f85")])
def test_build_metadata(text, build):
    v = parse(text)
    assert v.build == build
    assert str(v) == text
    assert v == parse(text.split("+")[0])
'''

MONEY_TEST = '''

@pytest.mark.parametrize("text, cents", [("-1.25", -125), ("-0.05", -5), ("-3", -300)])
def test_to_cents_negative(text, cents):
    assert to_cents(text) == cents
'''

INVOICE_TEST = '''

def test_refund_line_reduces_total():
    inv = Invoice()
    inv.add("widget", "10.00")
    inv.add("refund", "-2.50")
    assert inv.total() == 750
    assert inv.render().splitlines()[-1].split() == ["TOTAL", "7.50"]
'''

SPLIT_TEST = '''

def test_split_negative_total():
    assert split_evenly(-7, 2) == [-4, -3]
    assert split_evenly(-10, 3) == [-4, -3, -3]
'''

SPECS = [
    {
        "instance_id": "textkit-1",
        "repo": "textkit",
        "problem_statement": """
truncate() cuts text that fits exactly

`truncate("hello", 5)` returns `"he..."` although `"hello"` is exactly 5 characters
and fits. Text whose length equals the width should come back unchanged; only longer
text should get the placeholder.
""",
        "fix": [("textkit/trunc.py", "if len(text) < width:", "if len(text) <= width:")],
        "tests": [("tests/test_trunc.py", None, TRUNC_TEST)],
        "FAIL_TO_PASS": [
            "tests/test_trunc.py::test_exact_fit_is_untouched[hello world]",
            "tests/test_trunc.py::test_exact_fit_is_untouched[brackets [x] and spaces]",
        ],
    },
    {
        "instance_id": "textkit-2",
        "repo": "textkit",
        "problem_statement": """
slugify() leaves repeated and dangling separators

`slugify("Hello,   World!")` gives `"hello----world-"` instead of `"hello-world"`.
Runs of punctuation and whitespace should become a single separator, and the slug
should not start or end with one.
""",
        "fix": [(
            "textkit/slug.py",
            """    out = []
    for ch in text.lower():
        if ch.isalnum():
            out.append(ch)
        else:
            out.append(sep)
    return "".join(out)""",
            """    words = []
    current = ""
    for ch in text.lower():
        if ch.isalnum():
            current += ch
        elif current:
            words.append(current)
            current = ""
    if current:
        words.append(current)
    return sep.join(words)""",
        )],
        "tests": [("tests/test_slug.py", None, SLUG_TEST)],
        "FAIL_TO_PASS": [
            "tests/test_slug.py::test_punctuation_runs_collapse",
            "tests/test_slug.py::test_no_leading_or_trailing_separator",
        ],
    },
    {
        "instance_id": "intervals-1",
        "repo": "intervals",
        "problem_statement": """
merge() shrinks an interval that contains the next one

```python
merge([Interval(1, 10), Interval(2, 3)])  # -> [Interval(1, 3)], expected [Interval(1, 10)]
```
When an interval lies inside the previous one, the merged interval takes the inner
end point and loses coverage. `total_length` is wrong for the same input.
""",
        "fix": [("intervals/core.py", "merged[-1] = Interval(last.start, cur.end)",
                 "merged[-1] = Interval(last.start, max(last.end, cur.end))")],
        "tests": [("tests/test_merge.py", None, MERGE_TEST)],
        "FAIL_TO_PASS": ["tests/test_merge.py::test_contained_interval_does_not_shrink"],
    },
    {
        "instance_id": "intervals-2",
        "repo": "intervals",
        "problem_statement": """
gaps() returns nothing when nothing is covered

`gaps([], 0, 10)` returns `[]`, as if the whole range were covered; it should return
`[Interval(0, 10)]`. Same when every interval lies outside `[lo, hi]`.
""",
        "fix": [("intervals/core.py", """    out: list[Interval] = []
    if not merged:
        return out
    cursor = lo""", """    out: list[Interval] = []
    cursor = lo""")],
        "tests": [("tests/test_gaps.py", None, GAPS_TEST)],
        "FAIL_TO_PASS": [
            "tests/test_gaps.py::test_nothing_covered_is_one_gap",
            "tests/test_gaps.py::test_intervals_outside_range_leave_it_uncovered",
        ],
    },
    {
        "instance_id": "vertools-1",
        "repo": "vertools",
        "problem_statement": """
Pre-releases sort after the release

`parse("1.0.0-rc.1") < parse("1.0.0")` is `False`, and `max()` over a list of versions
picks the release candidate. Per semver.org a pre-release has lower precedence than
the normal version with the same core.
""",
        "fix": [("vertools/version.py", "return not self.pre and bool(other.pre)",
                 "return bool(self.pre) and not other.pre")],
        "tests": [("tests/test_version.py", "    def test_equal_versions(self):",
                   ORDER_TEST.lstrip("\n") + "\n    def test_equal_versions(self):")],
        "FAIL_TO_PASS": [
            "tests/test_version.py::TestOrdering::test_prerelease_sorts_before_release[1.0.0-rc.1-1.0.0]",
            "tests/test_version.py::TestOrdering::test_prerelease_sorts_before_release[2.1.0-alpha-2.1.0]",
        ],
    },
    {
        "instance_id": "vertools-2",
        "repo": "vertools",
        "problem_statement": """
parse() rejects build metadata

`parse("1.2.3+build.5")` raises `ValueError: not a semantic version`. Build metadata
after `+` is valid semver; it should be kept in `Version.build`, printed back by
`str()`, and ignored when comparing.
""",
        "fix": [
            ("vertools/version.py", r"""(?:-([0-9A-Za-z.-]+))?$")""",
             r"""(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")"""),
            ("vertools/version.py", "int(m.group(3)), pre)", "int(m.group(3)), pre, m.group(5) or \"\")"),
        ],
        "tests": [("tests/test_version.py", None, BUILD_TEST)],
        "FAIL_TO_PASS": [
            "tests/test_version.py::test_build_metadata[1.2.3+build.5-build.5]",
            "tests/test_version.py::test_build_metadata[1.0.0-rc.1+exp.sha.5114f85-exp.sha.5114f85]",
        ],
    },
    {
        "instance_id": "ledger-1",
        "repo": "ledger",
        "problem_statement": """
Refund lines make invoice totals wrong

An invoice with a refund line:

```python
inv = Invoice(); inv.add("widget", "10.00"); inv.add("refund", "-2.50")
inv.total()  # 1000, expected 750
```
The refund is ignored in the total, and `to_cents("-1.25")` returns `-75` instead of
`-125` (the minus sign only applies to the whole part).
""",
        "fix": [
            ("ledger/money.py", """    cents = int(sign + whole) * 100 + int((frac or "0").ljust(2, "0"))
    return cents""", """    cents = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    return -cents if sign else cents"""),
            ("ledger/invoice.py", "return sum(cents for _, cents in self.lines if cents > 0)",
             "return sum(cents for _, cents in self.lines)"),
        ],
        "tests": [("tests/test_money.py", None, MONEY_TEST), ("tests/test_invoice.py", None, INVOICE_TEST)],
        "FAIL_TO_PASS": [
            "tests/test_money.py::test_to_cents_negative[-1.25--125]",
            "tests/test_money.py::test_to_cents_negative[-0.05--5]",
            "tests/test_invoice.py::test_refund_line_reduces_total",
        ],
    },
    {
        "instance_id": "ledger-2",
        "repo": "ledger",
        "problem_statement": """
split_evenly() orders refund shares backwards

`split_evenly(7, 2)` is `[4, 3]` (larger shares first, as documented), but
`split_evenly(-7, 2)` is `[-3, -4]`: for a negative total the odd cent lands on the
last share. A refund should be split like the charge it reverses, largest amount
first: `[-4, -3]`, and `split_evenly(-10, 3)` should be `[-4, -3, -3]`.
""",
        "fix": [("ledger/invoice.py", """    base, extra = divmod(total, parts)
    return [base + 1 if i < extra else base for i in range(parts)]""",
                 """    if total < 0:
        return [-share for share in split_evenly(-total, parts)]
    base, extra = divmod(total, parts)
    return [base + 1 if i < extra else base for i in range(parts)]""")],
        "tests": [("tests/test_invoice.py", None, SPLIT_TEST)],
        "FAIL_TO_PASS": ["tests/test_invoice.py::test_split_negative_total"],
    },
]
