// Package sandbox holds the definition of the sandbox image that the executor
// runs programs in: a Dockerfile for machines with a container registry,
// rootfs.sh for the registry-free build from Debian packages, and the
// launcher both install as the container's PID 1. They are embedded so that
// the coderunner binary can build the image anywhere, and so that the image
// tag can be derived from exactly what defines it.
package sandbox

import "embed"

// Files is the image definition: Dockerfile, rootfs.sh and launcher.py.
//
//go:embed Dockerfile rootfs.sh launcher.py
var Files embed.FS

// LauncherPath is where both builds install the launcher in the image.
const LauncherPath = "/opt/coderunner/launcher.py"
