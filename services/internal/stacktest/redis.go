package stacktest

import (
	"context"

	"github.com/redis/rueidis"
)

// DeleteSale removes every Redis key of a test sale ({sale:<id>}*) and its
// entry in the sales index, so tests leave nothing for relays to find.
func DeleteSale(client rueidis.Client, id string) {
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match("{sale:"+id+"}*").Count(1000).Build()).AsScanEntry()
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
	client.Do(ctx, client.B().Srem().Key("blitzbuy:sales").Member(id).Build())
}
