package t

import "testing"

func TestReverseASCII(t *testing.T) {
	if got := Reverse("abc"); got != "cba" {
		t.Fatalf("got %q", got)
	}
}
