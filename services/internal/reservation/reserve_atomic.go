//go:build !brokenreserve

package reservation

// splitCheck is false in every real build: the stock check and the decrement
// happen in one atomic script. See reserve_broken.go.
const splitCheck = false
