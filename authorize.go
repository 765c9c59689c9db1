package coderunner

import "context"

// This file is the authorization policy, in one place: the schema's @auth
// directive calls Require, and services call CanSee before showing or
// touching anything that belongs to someone (a run).

// Caller is who is asking: a signed-in user, or a guest known only by the
// address it called from.
type Caller struct {
	// User is the signed-in user, or nil for a guest.
	User *User
	// Addr is the client's address (trusted proxies taken into account):
	// a guest's identity, and what sign-in failures are counted by.
	Addr string
	// TokenHash is the hash of the session token the user signed in with.
	TokenHash string
}

// Owner is the key of what the caller owns and is budgeted by: the user's
// id, or "guest:<address>". Runs record it.
func (c Caller) Owner() string {
	if c.User != nil {
		return c.User.ID
	}
	return GuestOwnerPrefix + c.Addr
}

// GuestOwnerPrefix starts the Owner of every guest.
const GuestOwnerPrefix = "guest:"

// Has reports whether the caller is signed in with role, or a role above it.
func (c Caller) Has(role Role) bool {
	return c.User != nil && c.User.Role.rank() >= role.rank()
}

// Require allows a signed-in caller with role (or above): a guest gets
// UNAUTHENTICATED, a user with a lesser role FORBIDDEN.
func (c Caller) Require(role Role) error {
	switch {
	case c.User == nil:
		return Errorf(Unauthenticated, "sign in first: this needs an account")
	case !c.Has(role):
		return Errorf(Forbidden, "this needs the %s role; you are %s", role, c.User.Role)
	}
	return nil
}

// CanSee reports whether the caller may see and act on something owned by
// owner: its owner and admins may. Anyone else must be answered exactly as
// if the thing did not exist.
func (c Caller) CanSee(owner string) bool {
	return owner == c.Owner() || c.Has(RoleAdmin)
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries; without one, an unnamed guest.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}
