module github.com/blitzbuy/blitzbuy/testkit

go 1.26.8
