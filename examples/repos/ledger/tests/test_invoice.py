from ledger import Invoice, split_evenly


def test_total_of_lines():
    inv = Invoice()
    inv.add("widget", "2.50", qty=4)
    inv.add("shipping", "4.99")
    assert inv.total() == 1499


def test_render_has_total():
    inv = Invoice()
    inv.add("widget", "1.00")
    assert inv.render().splitlines()[-1].split() == ["TOTAL", "1.00"]


def test_split_sums_to_total():
    for total in range(0, 50):
        for parts in range(1, 7):
            shares = split_evenly(total, parts)
            assert sum(shares) == total
            assert max(shares) - min(shares) <= 1
