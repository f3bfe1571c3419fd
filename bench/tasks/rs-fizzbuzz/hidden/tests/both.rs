use t::fizzbuzz;

#[test]
fn both() {
    assert_eq!(fizzbuzz(15), "FizzBuzz");
}
