package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
)

// target is the order route of a sale, with the connection settings every
// run shares.
func (b *Bench) target(sale string) load.Config {
	return load.Config{Addr: b.st.APIAddr, Path: "/v1/sales/" + sale + "/orders", Timeout: 10 * time.Second}
}

// createSale puts a fresh sale through the admin API.
func (b *Bench) createSale(ctx context.Context, s verify.Sale) error {
	def := map[string]any{"name": "blitzbench " + s.ID, "stock": s.Stock, "per_user_limit": s.Limit}
	if s.HoldSeconds > 0 {
		def["hold_seconds"] = s.HoldSeconds
	}
	body, _ := json.Marshal(def)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.st.API.JoinPath("/v1/admin/sales", s.ID).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.st.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("create sale: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create sale %s: %s %s", s.ID, resp.Status, msg)
	}
	return nil
}
