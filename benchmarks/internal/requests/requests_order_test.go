package requests

import (
	"fmt"
	"strings"
	"testing"
)

func TestMixedRequestsActorKeysInOrder(t *testing.T) {
	reqs, err := Mixed(fakeSign, "s", abuseN, abuseMix, abuseLimit, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := describe(reqs)
	bad, multi := 0, 0
	for u, idx := range l.byUser {
		if len(l.keys[u]) < 2 {
			continue
		}
		multi++
		for j, i := range idx {
			if !strings.HasSuffix(reqs[i].Key, fmt.Sprintf("-%d", j)) {
				bad++
				break
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d greedy/burst users send their keys out of order", bad, multi)
	}
}
