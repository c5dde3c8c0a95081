// Package localenv finds the repository root (the folder holding go.work)
// and reads the KEY=VALUE files the local stack writes there:
// .local/stack.env (`go tool task up`: where Redis, PostgreSQL, Kafka… listen)
// and .local/env (`go tool task run`: the running API's URL and secrets).
package localenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The env files under the repository root.
var (
	StackFile = filepath.Join(".local", "stack.env")
	EnvFile   = filepath.Join(".local", "env")
)

// RepoRoot walks up from the working directory to the folder holding go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return rootFrom(dir)
}

func rootFrom(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory")
		}
		dir = parent
	}
}

// Root is RepoRoot for a test: it fails tb when there is no root.
func Root(tb testing.TB) string {
	tb.Helper()
	root, err := RepoRoot()
	if err != nil {
		tb.Fatalf("repository root: %v (run the test inside the repository)", err)
	}
	return root
}

// ReadFile parses a shell env file: `NAME=value` or `export NAME=value` per
// line (the format stack.sh and run.sh write), blank lines and # comments
// skipped, one pair of surrounding quotes removed from the value.
func ReadFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: want NAME=value, got %q", path, n, line)
		}
		m[k] = unquote(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// Stack reads <root>/.local/stack.env, failing tb with how to start the
// stack when it is missing: no stack is a failure, never a skip.
func Stack(tb testing.TB, root string) map[string]string {
	tb.Helper()
	m, err := ReadFile(filepath.Join(root, StackFile))
	if err != nil {
		tb.Fatalf("the stack is not up (start it with `go tool task up`): %v", err)
	}
	return m
}

// Environ turns m into sorted NAME=value pairs, the form of exec.Cmd.Env.
func Environ(m map[string]string) []string {
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}
