// Package k8scheck validates the Kubernetes manifests in infra/k8s without a
// cluster: it builds the kustomization in memory as `kubectl apply -k` does,
// decodes every object strictly (unknown or duplicate fields are errors) into
// the k8s.io/api types and a mirror of KEDA's ScaledObject, and checks the
// result against the services' own configuration (internal/config): the
// variables each service reads, its listen ports and probe endpoints, its
// shutdown timeout, and the consumer group and topic the writer's autoscaler
// watches.
//
// The package holds only tests; run them with
//
//	go test ./internal/k8scheck/
package k8scheck
