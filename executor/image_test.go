package executor

import (
	"context"
	"io"
	"regexp"
	"testing"
	"time"
)

func TestImageRefIsDerivedFromTheDefinition(t *testing.T) {
	ref := ImageRef()
	if !regexp.MustCompile(`^coderunner-sandbox:[0-9a-f]{16}$`).MatchString(ref) {
		t.Fatalf("ImageRef() = %q", ref)
	}
	if again := ImageRef(); again != ref {
		t.Errorf("ImageRef() not stable: %q then %q", ref, again)
	}
}

// TestEnsureImageIsQuickWhenUpToDate: TestMain has built the image, so a
// second build only finds it.
func TestEnsureImageIsQuickWhenUpToDate(t *testing.T) {
	requireEngine(t)
	began := time.Now()
	built, err := EnsureImage(context.Background(), engine, FromDebootstrap, io.Discard)
	if err != nil || built {
		t.Fatalf("EnsureImage: built %v, %v", built, err)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Errorf("up-to-date check took %s", took)
	}
}
