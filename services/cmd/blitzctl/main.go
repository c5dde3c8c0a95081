// Command blitzctl is the operator's and developer's helper:
//
//	blitzctl token --user 101 [--ttl 1h] [--kid ID]   print a user JWT signed with BLITZBUY_JWT_SECRET or a key of BLITZBUY_JWT_KEYS
//	blitzctl demo [--buyers 2000 --stock 100]   run a short flash sale against BLITZBUY_API_URL
//	blitzctl reconcile --sale ID [--repair]     compare a sale in Redis with PostgreSQL and Kafka;
//	                                            exit 1 on drift; --repair rebuilds Redis
//	blitzctl trace [--ascii] [--width 40] [--links N] [--jaeger URL] TRACE_ID
//	                                            print a trace from Jaeger's API as a waterfall
//
// Settings come from the environment that `go tool task run` writes to .local/env.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/config"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "blitzctl:", err)
		if errors.Is(err, errDrift) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: blitzctl token --user ID [--ttl 1h] [--kid ID] | demo [--buyers N --stock N] | reconcile --sale ID [--repair] | trace [--ascii] [--width N] [--links N] [--jaeger URL] TRACE_ID")
	}
	switch args[0] {
	case "token":
		fs := flag.NewFlagSet("token", flag.ContinueOnError)
		user := fs.String("user", "", "user id (the JWT subject)")
		ttl := fs.Duration("ttl", time.Hour, "token lifetime (order-api refuses one over BLITZBUY_JWT_MAX_TTL, 24h by default)")
		kid := fs.String("kid", "", "sign with the key of this id from BLITZBUY_JWT_KEYS / _FILE (default: the first key)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if !order.ValidUserID(*user) {
			return fmt.Errorf("--user must be 1-128 visible ASCII characters")
		}
		jc, err := config.LoadJWT()
		if err != nil {
			return fmt.Errorf("%w (source .local/env after `go tool task run`)", err)
		}
		key, err := jc.Key(*kid)
		if err != nil {
			return err
		}
		tok, err := httpapi.SignToken(key, httpapi.TokenClaims{UserID: *user, TTL: *ttl, Issuer: jc.Issuer, Audience: jc.Audience})
		if err != nil {
			return err
		}
		fmt.Println(tok)
		return nil
	case "demo":
		return demo(args[1:])
	case "reconcile":
		return reconcile(args[1:], os.Stdout)
	case "trace":
		return traceCmd(args[1:], os.Stdout)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}
