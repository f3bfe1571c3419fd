from names import initials


def test_upper():
    assert initials('ada lovelace') == 'AL'
