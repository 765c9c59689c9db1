// Command ferretdb runs mongotest's FerretDB in a process of its own, for
// tests whose binary is built with -race: FerretDB inside them would run
// instrumented, many times slower than a MongoDB server, and share their
// cores' time with their clients. It prints the server's URI on its first
// line of output and serves until its standard input closes.
//
//	ferretdb DIR
package main

import (
	"fmt"
	"io"
	"os"

	"coderunner/store/mongo/mongotest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ferretdb DIR")
		os.Exit(2)
	}
	srv, err := mongotest.New(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	fmt.Println(srv.URI())
	io.Copy(io.Discard, os.Stdin) // until the parent closes it, or dies
	srv.Stop()
}
