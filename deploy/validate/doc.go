// Package validate holds the deployment's tests: the Kubernetes manifests
// (deploy/k8s), built with kustomize as `kubectl apply -k` would and
// decoded strictly into the real API types, and the one-host Compose file
// (deploy/compose.yaml), each checked against what the code and the
// docs say — ports, probes, grace periods, the stream and consumer group
// the workers read, the configuration variables that exist.
//
// It lives in a module of its own (deploy/go.mod), so that Kubernetes',
// kustomize's and their dependencies stay out of the binary's module; it
// imports nothing from that module, and reads its facts from the source
// and docs/configuration.md instead.
package validate
