package t

// Max returns the largest value and whether there was one.
func Max(xs []int) (int, bool) {
	best := xs[0]
	for _, x := range xs[1:] {
		if x > best {
			best = x
		}
	}
	return best, true
}
