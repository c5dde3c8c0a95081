module github.com/blitzbuy/blitzbuy/observability

go 1.26.8
