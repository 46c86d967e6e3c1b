// Package version holds the version of the skiff binary and the Kubernetes
// version it implements, stamped at build time with -ldflags -X.
package version

// Set by the Makefile with -ldflags "-X ...". The defaults describe an
// unstamped development build.
var (
	// Skiff is skiff's own version, e.g. "v0.1.0".
	Skiff = "v0.0.0-dev"
	// Kubernetes is the Kubernetes API version served, e.g. "v1.37.2".
	Kubernetes = "v1.37.2"
	// Commit is the git commit the binary was built from.
	Commit = "unknown"
)
