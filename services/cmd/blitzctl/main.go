// Command blitzctl is the operator's and developer's helper:
//
//	blitzctl token --user 101 [--ttl 1h]   print a user JWT signed with BLITZBUY_JWT_SECRET
//	blitzctl demo [--buyers 2000 --stock 100]   run a short flash sale against BLITZBUY_API_URL
//	blitzctl reconcile --sale ID [--repair]     compare a sale in Redis with PostgreSQL and Kafka;
//	                                            exit 1 on drift; --repair rebuilds Redis
//
// Settings come from the environment that `go tool task run` writes to .local/env.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

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
		return fmt.Errorf("usage: blitzctl token --user ID [--ttl 1h] | demo [--buyers N --stock N] | reconcile --sale ID [--repair]")
	}
	switch args[0] {
	case "token":
		fs := flag.NewFlagSet("token", flag.ContinueOnError)
		user := fs.String("user", "", "user id (the JWT subject)")
		ttl := fs.Duration("ttl", time.Hour, "token lifetime")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if !order.ValidUserID(*user) {
			return fmt.Errorf("--user must be 1-128 visible ASCII characters")
		}
		secret := os.Getenv("BLITZBUY_JWT_SECRET")
		if secret == "" {
			return fmt.Errorf("BLITZBUY_JWT_SECRET is not set (source .local/env after `go tool task run`)")
		}
		tok, err := httpapi.SignUserToken([]byte(secret), *user, *ttl)
		if err != nil {
			return err
		}
		fmt.Println(tok)
		return nil
	case "demo":
		return demo(args[1:])
	case "reconcile":
		return reconcile(args[1:], os.Stdout)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}
