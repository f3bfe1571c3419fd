use t::fizzbuzz;

#[test]
fn plain() {
    assert_eq!(fizzbuzz(7), "7");
    assert_eq!(fizzbuzz(9), "Fizz");
}
