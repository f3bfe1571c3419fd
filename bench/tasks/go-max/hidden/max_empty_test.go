package t

import "testing"

func TestMaxEmpty(t *testing.T) {
	if got, ok := Max(nil); got != 0 || ok {
		t.Fatalf("got %d %v", got, ok)
	}
}
