// Command dashboards renders BlitzBuy's dashboards from code: the Grafana
// JSON into observability/grafana/dashboards and the same dashboards as
// Prometheus console pages into observability/prometheus/consoles (run it
// from the repository root, as `go tool task dashboards` does). It owns both
// folders: a *.json or *.html file no dashboard renders any more is removed,
// so a renamed dashboard leaves no stale copy for Grafana or Prometheus to
// serve.
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
	consoles := fset.String("consoles", filepath.Join("observability", "prometheus", "consoles"), "folder Prometheus serves the console pages from (--web.console.templates)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	boards, err := dashboards.All()
	if err != nil {
		return err
	}
	pages, err := dashboards.Consoles()
	if err != nil {
		return err
	}
	if err := write(*out, "*.json", boards); err != nil {
		return err
	}
	return write(*consoles, "*.html", pages)
}

// write puts files into dir and removes the files matching stale that are
// not among them.
func write(dir, stale string, files map[string][]byte) error {
	// Refuse rather than create: a missing folder means we run from the wrong
	// directory, and files written there would never be served.
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a folder (run from the repository root or pass -out / -consoles)", dir)
	}
	names := make([]string, 0, len(files))
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	present, err := filepath.Glob(filepath.Join(dir, stale))
	if err != nil {
		return err
	}
	for _, path := range present {
		if !slices.Contains(names, filepath.Base(path)) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			fmt.Println("removed", path)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Println("wrote", filepath.Join(dir, name))
	}
	return nil
}
