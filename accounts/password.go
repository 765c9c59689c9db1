package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"coderunner"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, one
// lane). A hash records its own parameters (the PHC string format), so
// raising them later leaves old hashes verifiable.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

var b64 = base64.RawStdEncoding

// hashing bounds the argon2 computations running at once in this process
// (each holds 19 MiB and a core for ~25 ms): a burst of sign-ins waits
// for a slot, or is refused once it has waited hashWait.
var hashing = make(chan struct{}, 2*runtime.NumCPU())

const hashWait = 2 * time.Second

// withHashSlot runs f while holding one of the hashing slots.
func withHashSlot(ctx context.Context, f func()) error {
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case hashing <- struct{}{}:
	case <-t.C:
		return coderunner.ErrRateLimited(time.Second, "the server is busy signing people in: try again in a second")
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-hashing }()
	f()
	return nil
}

// hashPassword returns password's argon2id hash in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func hashPassword(ctx context.Context, password string) (string, error) {
	var hash string
	err := withHashSlot(ctx, func() { hash = hashWith(password) })
	return hash, err
}

func hashWith(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether password matches hash, comparing in
// constant time. A malformed hash matches nothing.
func checkPassword(ctx context.Context, hash, password string) (bool, error) {
	var ok bool
	err := withHashSlot(ctx, func() { ok = matches(hash, password) })
	return ok, err
}

func matches(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil {
		return false
	}
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a name is unknown, so that signing in
// as nobody takes as long as signing in with a wrong password.
var dummyHash = hashWith("coderunner: no such user")
