package main

import (
	"context"
	"errors"
)

// imageCmd implements `coderunner image build`. Placeholder until the sandbox lands.
func imageCmd(ctx context.Context, args []string) error {
	return errors.New("coderunner image: not built yet")
}
