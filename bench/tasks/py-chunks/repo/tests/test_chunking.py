from chunking import chunks


def test_exact():
    assert chunks([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]
