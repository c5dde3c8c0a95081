package stacktest

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// DeleteSale removes every Redis key of a test sale (ledgerkeys.Pattern) and its
// entry in the sales index, so tests leave nothing for relays to find.
func DeleteSale(client rueidis.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(ledgerkeys.Pattern(id)).Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		if len(e.Elements) > 0 {
			client.Do(ctx, client.B().Unlink().Key(e.Elements...).Build())
		}
		if cursor = e.Cursor; cursor == 0 {
			break
		}
	}
	client.Do(ctx, client.B().Srem().Key(ledgerkeys.SalesIndex).Member(id).Build())
}
