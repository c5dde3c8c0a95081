module github.com/blitzbuy/blitzbuy/benchmarks

go 1.26.8
