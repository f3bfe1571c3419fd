use t::gcd;

#[test]
fn common() {
    assert_eq!(gcd(12, 18), 6);
}
