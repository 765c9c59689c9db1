package main

import (
	"context"
	"errors"
)

// execCmd implements `coderunner exec`. Placeholder until the sandbox lands.
func execCmd(ctx context.Context, args []string) error {
	return errors.New("coderunner exec: not built yet")
}
