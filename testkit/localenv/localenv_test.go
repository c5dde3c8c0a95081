package localenv

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]string
		wantErr bool
	}{
		{name: "stack.sh format", content: "export BLITZBUY_REDIS_ADDR=127.0.0.1:6379\nexport BLITZBUY_KAFKA_BROKERS=a:1,b:2\n",
			want: map[string]string{"BLITZBUY_REDIS_ADDR": "127.0.0.1:6379", "BLITZBUY_KAFKA_BROKERS": "a:1,b:2"}},
		{name: "plain, quoted, comments and blanks", content: "# written by run.sh\n\nA=1\n  export B=\"two words\"\nC='x=y'\nD=\n",
			want: map[string]string{"A": "1", "B": "two words", "C": "x=y", "D": ""}},
		{name: "value keeps inner equals and unmatched quote", content: "URL=postgres://u:p@h/db?sslmode=disable\nQ=\"open\n",
			want: map[string]string{"URL": "postgres://u:p@h/db?sslmode=disable", "Q": `"open`}},
		{name: "a line without = is an error", content: "A=1\nnonsense\n", wantErr: true},
		{name: "an empty name is an error", content: "=1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "env")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v and no error, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d pairs %v, want %d %v", len(got), got, len(tt.want), tt.want)
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("got %s = %q (present %v), want %q", k, g, ok, v)
				}
			}
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent")); !os.IsNotExist(err) {
		t.Errorf("got error %v, want a not-exist error", err)
	}
}

func TestRootFrom(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "services", "internal", "x")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, deep} {
		got, err := rootFrom(dir)
		if err != nil || got != root {
			t.Errorf("rootFrom(%s) = %q, %v; want %q", dir, got, err, root)
		}
	}
	if got, err := rootFrom(t.TempDir()); err == nil {
		t.Errorf("rootFrom(a folder with no go.work above) = %q, want an error", got)
	}
}

// The repository itself: this package lives two folders below go.work.
func TestRepoRoot(t *testing.T) {
	got, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Dir(filepath.Dir(wd)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEnviron(t *testing.T) {
	got := Environ(map[string]string{"B": "2", "A": "x=1", "C": ""})
	want := []string{"A=x=1", "B=2", "C="}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
