package t

import "testing"

func TestMax(t *testing.T) {
	if got, ok := Max([]int{3, 9, 2}); got != 9 || !ok {
		t.Fatalf("got %d %v", got, ok)
	}
}
