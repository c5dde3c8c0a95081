// Command dashboards renders BlitzBuy's Grafana dashboards from code into
// observability/grafana/dashboards (run it from the repository root, as
// `go tool task dashboards` does). It owns that folder: a *.json file no
// dashboard renders any more is removed, so a renamed dashboard leaves no
// stale copy for Grafana to provision.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/blitzbuy/blitzbuy/observability/dashboards"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fset := flag.NewFlagSet("dashboards", flag.ContinueOnError)
	out := fset.String("out", filepath.Join("observability", "grafana", "dashboards"), "folder Grafana provisions the dashboards from")
	if err := fset.Parse(args); err != nil {
		return err
	}
	// Refuse rather than create: a missing folder means we run from the wrong
	// directory, and files written there would never reach Grafana.
	if st, err := os.Stat(*out); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a folder (run from the repository root or pass -out)", *out)
	}
	files, err := dashboards.All()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	stale, err := filepath.Glob(filepath.Join(*out, "*.json"))
	if err != nil {
		return err
	}
	for _, path := range stale {
		if !slices.Contains(names, filepath.Base(path)) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			fmt.Println("removed", path)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Println("wrote", filepath.Join(*out, name))
	}
	return nil
}
