use t::gcd;

#[test]
fn zero() {
    assert_eq!(gcd(0, 7), 7);
    assert_eq!(gcd(7, 0), 7);
}
