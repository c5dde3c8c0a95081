package load

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/blitzbuy/blitzbuy/testkit/localenv"
)

// TestOutcomesMatchContract checks the outcome table against the API's
// contract, which blitzbench may not import from the services module: every
// problem outcome's code must be a documented ErrorCode in docs/openapi.yaml,
// answered by the order route with the status the table expects (through a
// problem schema that pins that status and code), and a row of docs/api.md's
// code table with that status. A renamed code or a moved status fails here
// instead of turning every answer of that kind into an http_error.
func TestOutcomesMatchContract(t *testing.T) {
	root := localenv.Root(t)
	spec := readSpec(t, filepath.Join(root, "docs", "openapi.yaml"))
	documented := readCodeTable(t, filepath.Join(root, "docs", "api.md"))
	n := 0
	for _, d := range outcomes {
		if !d.problem {
			continue
		}
		n++
		t.Run(d.name, func(t *testing.T) {
			if !slices.Contains(spec.Components.Schemas["ErrorCode"].Enum, d.name) {
				t.Errorf("openapi.yaml: %q is not in the ErrorCode enum %v", d.name, spec.Components.Schemas["ErrorCode"].Enum)
			}
			if got := spec.orderCodes(d.status); !slices.Contains(got, d.name) {
				t.Errorf("openapi.yaml: POST %s answers %d with codes %v, want %q among them", orderRoute, d.status, got, d.name)
			}
			if got := documented[d.name]; !slices.Contains(got, d.status) {
				t.Errorf("api.md: code %q is documented with statuses %v, want %d", d.name, got, d.status)
			}
		})
	}
	if n == 0 {
		t.Fatal("the outcome table has no problem outcomes")
	}
}

const orderRoute = "/v1/sales/{saleID}/orders"

// spec is the part of openapi.yaml the test reads.
type spec struct {
	Paths map[string]struct {
		Post struct {
			Responses map[string]response `yaml:"responses"`
		} `yaml:"post"`
	} `yaml:"paths"`
	Components struct {
		Responses map[string]response `yaml:"responses"`
		Schemas   map[string]struct {
			Enum  []string `yaml:"enum"`
			AllOf []struct {
				Properties struct {
					Status struct {
						Const any `yaml:"const"` // an int on problem schemas
					} `yaml:"status"`
					Code struct {
						Const string   `yaml:"const"`
						Enum  []string `yaml:"enum"`
					} `yaml:"code"`
				} `yaml:"properties"`
			} `yaml:"allOf"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

type response struct {
	Ref     string `yaml:"$ref"`
	Content map[string]struct {
		Schema struct {
			Ref string `yaml:"$ref"`
		} `yaml:"schema"`
	} `yaml:"content"`
}

func readSpec(t *testing.T, path string) *spec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &s
}

// orderCodes is the problem codes POST on the order route answers status
// with: those its problem schema pins together with that very status.
func (s *spec) orderCodes(status int) []string {
	r, ok := s.Paths[orderRoute].Post.Responses[strconv.Itoa(status)]
	if !ok {
		return nil
	}
	if r.Ref != "" {
		r = s.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
	}
	var codes []string
	for _, c := range r.Content {
		schema := s.Components.Schemas[strings.TrimPrefix(c.Schema.Ref, "#/components/schemas/")]
		for _, part := range schema.AllOf {
			p := part.Properties
			if p.Status.Const != any(status) {
				continue
			}
			if p.Code.Const != "" {
				codes = append(codes, p.Code.Const)
			}
			codes = append(codes, p.Code.Enum...)
		}
	}
	return codes
}

// readCodeTable reads api.md's "| `code` | status | …" rows: per code, the
// statuses it is documented with.
func readCodeTable(t *testing.T, path string) map[string][]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 || strings.TrimSpace(cells[0]) != "" {
			continue
		}
		code, ok := strings.CutPrefix(strings.TrimSpace(cells[1]), "`")
		if !ok {
			continue
		}
		status, err := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err != nil {
			continue
		}
		code = strings.TrimSuffix(code, "`")
		m[code] = append(m[code], status)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}
