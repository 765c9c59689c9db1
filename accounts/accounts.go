// Package accounts is identity and budgets: signing up, in and out,
// sessions, roles, quotas and the audit log of what admins change. The
// authorization policy itself is coderunner.Caller's (authorize.go); this
// service establishes who the caller is and what its budget is.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"coderunner"
)

// Broker is what accounts need of the broker: shared counters for
// throttling sign-in, and telling every process that a session ended.
type Broker interface {
	coderunner.Limiter
	coderunner.Revocations
}

// Config is what the operator sets.
type Config struct {
	// TokenTTL is how long a session lasts; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// Guests lets callers who have not signed in run programs, on
	// GuestQuota keyed by their address.
	Guests bool
	// Quotas are the default quota of each role; admins override them per
	// role and per user.
	Quotas     map[coderunner.Role]coderunner.Quota
	GuestQuota coderunner.Quota
}

// DefaultTokenTTL is how long a session lasts unless configured.
const DefaultTokenTTL = 30 * 24 * time.Hour

// DefaultQuotas are the roles' budgets unless configured: a class of
// children pressing Run stays well within a student's, and one student
// cannot occupy the queue. A submission runs every test of a problem, so
// a day allows fewer submissions than runs: still many more than a child
// needs, trying again after each verdict.
var DefaultQuotas = map[coderunner.Role]coderunner.Quota{
	coderunner.RoleStudent: {RunsPerMinute: 10, RunsPerDay: 500, ExecSecondsPerDay: 600, MaxActiveRuns: 2, SubmitsPerMinute: 10, SubmitsPerDay: 200},
	coderunner.RoleEditor:  {RunsPerMinute: 30, RunsPerDay: 2000, ExecSecondsPerDay: 3600, MaxActiveRuns: 4, SubmitsPerMinute: 30, SubmitsPerDay: 1000},
	coderunner.RoleAdmin:   {RunsPerMinute: 60, RunsPerDay: 10000, ExecSecondsPerDay: 36000, MaxActiveRuns: 8, SubmitsPerMinute: 60, SubmitsPerDay: 5000},
}

// DefaultGuestQuota is a guest's budget unless configured, per address: a
// school's children may share one. Guests cannot submit, so it allows no
// submissions.
var DefaultGuestQuota = coderunner.Quota{RunsPerMinute: 10, RunsPerDay: 300, ExecSecondsPerDay: 300, MaxActiveRuns: 2}

// Throttles, so that no client can guess passwords quickly or fill the
// store with accounts and sessions: each allows at most limit attempts of
// a key in a sliding window, counted in the broker across replicas. An
// attempt is taken before the work it allows, atomically, so concurrent
// attempts cannot all slip through.
var (
	failedSignInsPerName = throttle{"signin:name:", 10, 15 * time.Minute, "too many wrong passwords for this name"}
	failedSignInsPerAddr = throttle{"signin:addr:", 50, 15 * time.Minute, "too many wrong passwords from your network"}
	signUpsPerAddr       = throttle{"signup:addr:", 20, time.Hour, "too many new accounts from your network"}
	sessionsPerUser      = throttle{"sessions:user:", 50, 24 * time.Hour, "too many sign-ins to this account today"}
)

type throttle struct {
	prefix string
	limit  int
	window time.Duration
	why    string
}

// attempt is one attempt a throttle counted.
type attempt struct {
	key, token string
}

// take counts an attempt of key, or refuses RATE_LIMITED in the
// throttle's words.
func (s *Service) take(ctx context.Context, t throttle, key string) (attempt, error) {
	token, err := s.Broker.Take(ctx, t.prefix+key, t.limit, t.window, s.now())
	var refused *coderunner.Error
	if errors.As(err, &refused) && refused.Code == coderunner.RateLimited {
		wait := refused.RetryAfter
		return attempt{}, coderunner.ErrRateLimited(wait, "%s: try again in %d minutes", t.why, int(wait/time.Minute)+1)
	}
	return attempt{t.prefix + key, token}, err
}

// forget uncounts attempts that turned out not to count.
func (s *Service) forget(ctx context.Context, attempts ...attempt) error {
	for _, a := range attempts {
		if err := s.Broker.Forget(ctx, a.key, a.token); err != nil {
			return err
		}
	}
	return nil
}

// Service signs callers in and out and keeps their budgets.
type Service struct {
	Store  coderunner.UserStore
	Broker Broker
	Config Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Auth is a new session: the token to send, and whose it is.
type Auth struct {
	Token     string
	User      coderunner.User
	ExpiresAt time.Time
}

// SignUp creates a student account for a client at addr and signs it
// in. Every attempt counts against the address, a taken name included.
func (s *Service) SignUp(ctx context.Context, name, password, addr string) (Auth, error) {
	if err := validateAccount(name, password, coderunner.RoleStudent); err != nil {
		return Auth{}, err
	}
	if _, err := s.take(ctx, signUpsPerAddr, addr); err != nil {
		return Auth{}, err
	}
	u, err := s.CreateUser(ctx, name, password, coderunner.RoleStudent)
	if err != nil {
		return Auth{}, err
	}
	if _, err := s.take(ctx, sessionsPerUser, u.ID); err != nil {
		return Auth{}, err
	}
	return s.startSession(ctx, u)
}

func validateAccount(name, password string, role coderunner.Role) error {
	if err := coderunner.ValidateName(name); err != nil {
		return err
	}
	if err := coderunner.ValidatePassword(password); err != nil {
		return err
	}
	if !role.Valid() {
		return coderunner.Errorf(coderunner.BadUserInput, "role %q is not one of STUDENT, EDITOR, ADMIN", role)
	}
	return nil
}

// CreateUser creates an account with role; a taken name is CONFLICT,
// answered before the password is hashed.
func (s *Service) CreateUser(ctx context.Context, name, password string, role coderunner.Role) (coderunner.User, error) {
	if err := validateAccount(name, password, role); err != nil {
		return coderunner.User{}, err
	}
	switch _, _, err := s.Store.UserByName(ctx, name); {
	case err == nil:
		return coderunner.User{}, coderunner.Errorf(coderunner.Conflict, "the name %q is taken: choose another", name)
	case coderunner.ErrorCode(err) != coderunner.NotFound:
		return coderunner.User{}, err
	}
	hash, err := hashPassword(ctx, password)
	if err != nil {
		return coderunner.User{}, err
	}
	u := coderunner.User{ID: uuid.NewString(), Name: name, Role: role, CreatedAt: s.now().Truncate(time.Millisecond)}
	// Two sign-ups racing for one name both pass the check above; the
	// store's unique index lets one win.
	if err := s.Store.CreateUser(ctx, u, hash); err != nil {
		return coderunner.User{}, err
	}
	return u, nil
}

// Bootstrap creates an account with any role from the command line (the
// first admin), audited as done by "cli".
func (s *Service) Bootstrap(ctx context.Context, name, password string, role coderunner.Role) (coderunner.User, error) {
	u, err := s.CreateUser(ctx, name, password, role)
	if err != nil {
		return coderunner.User{}, err
	}
	return u, s.audit(ctx, "cli", "createUser", "user:"+u.ID, nil, u)
}

// SignIn checks a name and password and starts a session. A wrong name
// and a wrong password answer alike, in the same time. Each attempt
// counts as a failure for the name and the address before the password is
// checked, and is forgotten if it succeeds: after too many failures,
// SignIn answers RATE_LIMITED without checking, until the oldest has left
// the window.
func (s *Service) SignIn(ctx context.Context, name, password, addr string) (Auth, error) {
	a, err := s.take(ctx, failedSignInsPerAddr, addr)
	if err != nil {
		return Auth{}, err
	}
	attempts := []attempt{a}
	// A name that cannot exist is not counted under its own key, so that
	// guesses cannot store arbitrary names; the address still counts them.
	if coderunner.ValidateName(name) == nil {
		a, err := s.take(ctx, failedSignInsPerName, coderunner.NameKey(name))
		if err != nil {
			return Auth{}, err
		}
		attempts = append(attempts, a)
	}
	u, hash, err := s.Store.UserByName(ctx, name)
	known := err == nil
	if !known && coderunner.ErrorCode(err) != coderunner.NotFound {
		return Auth{}, err
	}
	var session attempt
	if known {
		// Taken before the hash is checked, so that a correct password
		// sent in a loop costs one check per session allowed; given back
		// if the password is wrong, so that guessing cannot use up a
		// child's sessions.
		if session, err = s.take(ctx, sessionsPerUser, u.ID); err != nil {
			return Auth{}, err
		}
	}
	if !known || len(password) > coderunner.MaxPasswordBytes {
		hash = dummyHash
	}
	ok, err := checkPassword(ctx, hash, password)
	if err != nil {
		return Auth{}, err
	}
	if !ok || !known {
		if known {
			if err := s.forget(ctx, session); err != nil {
				return Auth{}, err
			}
		}
		return Auth{}, coderunner.Errorf(coderunner.Unauthenticated, "wrong name or password")
	}
	if err := s.forget(ctx, attempts...); err != nil {
		return Auth{}, err
	}
	return s.startSession(ctx, u)
}

// startSession stores a new session for u. Its caller has taken it from
// sessionsPerUser, so that sessions cannot pile up in the store.
func (s *Service) startSession(ctx context.Context, u coderunner.User) (Auth, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	ttl := s.Config.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	now := s.now().Truncate(time.Millisecond)
	session := coderunner.Session{TokenHash: HashToken(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.Store.CreateSession(ctx, session); err != nil {
		return Auth{}, fmt.Errorf("start a session for %s: %w", u.ID, err)
	}
	return Auth{Token: token, User: u, ExpiresAt: session.ExpiresAt}, nil
}

// A token is tokenPrefix and 32 random bytes in base64url: 256 bits that
// nobody can guess, recognisable in a leaked log or a secret scanner.
const (
	tokenPrefix = "crt_"
	tokenLen    = len(tokenPrefix) + 43
)

// HashToken is the form of a token the store keeps.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

var errBadToken = coderunner.Errorf(coderunner.Unauthenticated, "the session token is invalid, expired or signed out: sign in again")

// Authenticate returns the caller a token belongs to, or UNAUTHENTICATED
// if the token is malformed, unknown, expired or signed out.
func (s *Service) Authenticate(ctx context.Context, token string) (coderunner.Caller, time.Time, error) {
	if len(token) != tokenLen || token[:len(tokenPrefix)] != tokenPrefix {
		return coderunner.Caller{}, time.Time{}, errBadToken
	}
	hash := HashToken(token)
	session, err := s.Store.Session(ctx, hash)
	if coderunner.ErrorCode(err) == coderunner.NotFound || err == nil && !s.now().Before(session.ExpiresAt) {
		return coderunner.Caller{}, time.Time{}, errBadToken
	}
	if err != nil {
		return coderunner.Caller{}, time.Time{}, err
	}
	users, err := s.Store.Users(ctx, []string{session.UserID})
	if err != nil {
		return coderunner.Caller{}, time.Time{}, err
	}
	u, ok := users[session.UserID]
	if !ok {
		return coderunner.Caller{}, time.Time{}, errBadToken
	}
	return coderunner.Caller{User: &u, TokenHash: hash}, session.ExpiresAt, nil
}

// Valid reports whether the session with tokenHash still stands; a store
// failure counts as valid (the session is checked again later).
func (s *Service) Valid(ctx context.Context, tokenHash string) bool {
	session, err := s.Store.Session(ctx, tokenHash)
	if coderunner.ErrorCode(err) == coderunner.NotFound {
		return false
	}
	return err != nil || s.now().Before(session.ExpiresAt)
}

// SignOut ends the caller's session everywhere: the token stops working
// at once, and every subscription it opened, on any replica, ends.
func (s *Service) SignOut(ctx context.Context, c coderunner.Caller) error {
	if err := s.Store.DeleteSession(ctx, c.TokenHash); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	if err := s.Broker.Revoke(ctx, c.TokenHash); err != nil {
		// The session is gone from the store: replicas notice within a
		// minute (see server's session watch) even without the message.
		return fmt.Errorf("sign out: announce the revocation: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that have expired.
func (s *Service) DeleteExpiredSessions(ctx context.Context) (int, error) {
	return s.Store.DeleteExpiredSessions(ctx, s.now())
}

// User returns a user, or NOT_FOUND.
func (s *Service) User(ctx context.Context, id string) (coderunner.User, error) {
	users, err := s.Store.Users(ctx, []string{id})
	if err != nil {
		return coderunner.User{}, err
	}
	u, ok := users[id]
	if !ok {
		return coderunner.User{}, coderunner.Errorf(coderunner.NotFound, "no user with id %q", id)
	}
	return u, nil
}

// UserByName returns a user by name (case-insensitively), or NOT_FOUND.
func (s *Service) UserByName(ctx context.Context, name string) (coderunner.User, error) {
	u, _, err := s.Store.UserByName(ctx, name)
	return u, err
}

// QuotaFor returns the caller's budget: the guest quota for a guest
// (UNAUTHENTICATED when guests are off), else the user's overrides over
// the role's overrides over the role's default.
func (s *Service) QuotaFor(ctx context.Context, c coderunner.Caller) (coderunner.Quota, error) {
	if c.User == nil {
		if !s.Config.Guests {
			return coderunner.Quota{}, coderunner.Errorf(coderunner.Unauthenticated, "sign in to run programs")
		}
		return s.Config.GuestQuota, nil
	}
	role, err := s.roleQuota(ctx, c.User.Role)
	if err != nil {
		return coderunner.Quota{}, err
	}
	return role.Apply(c.User.Quota), nil
}

func (s *Service) roleQuota(ctx context.Context, role coderunner.Role) (coderunner.Quota, error) {
	overrides, err := s.Store.RoleQuotas(ctx)
	if err != nil {
		return coderunner.Quota{}, fmt.Errorf("read role quotas: %w", err)
	}
	return s.Config.Quotas[role].Apply(overrides[role]), nil
}

// Standing is a budget and where its owner stands today.
type Standing struct {
	coderunner.Quota
	coderunner.Usage
	ResetsAt time.Time
}

// StandingOf returns the caller's budget and usage.
func (s *Service) StandingOf(ctx context.Context, c coderunner.Caller) (Standing, error) {
	q, err := s.QuotaFor(ctx, c)
	if err != nil {
		return Standing{}, err
	}
	return s.standing(ctx, c.Owner(), q)
}

func (s *Service) standing(ctx context.Context, owner string, q coderunner.Quota) (Standing, error) {
	now := s.now()
	u, err := s.Broker.Usage(ctx, owner, now)
	if err != nil {
		return Standing{}, err
	}
	return Standing{Quota: q, Usage: u, ResetsAt: coderunner.DayStart(now).Add(24 * time.Hour)}, nil
}

// SetRole changes a user's role. Admins cannot change their own, so that
// the last admin cannot lock everyone out by mistake.
func (s *Service) SetRole(ctx context.Context, actor coderunner.Caller, userID string, role coderunner.Role) (coderunner.User, error) {
	if !role.Valid() {
		return coderunner.User{}, coderunner.Errorf(coderunner.BadUserInput, "role %q is not one of STUDENT, EDITOR, ADMIN", role)
	}
	if actor.User != nil && actor.User.ID == userID {
		return coderunner.User{}, coderunner.Errorf(coderunner.BadUserInput, "you cannot change your own role: ask another admin")
	}
	before, err := s.User(ctx, userID)
	if err != nil {
		return coderunner.User{}, err
	}
	if err := s.Store.SetUserRole(ctx, userID, role); err != nil {
		return coderunner.User{}, err
	}
	after := before
	after.Role = role
	return after, s.audit(ctx, actor.Owner(), "setRole", "user:"+userID, before.Role, after.Role)
}

// SetQuota sets a user's quota overrides (fields left nil keep theirs)
// and returns the user's budget and usage.
func (s *Service) SetQuota(ctx context.Context, actor coderunner.Caller, userID string, o coderunner.QuotaOverride) (Standing, error) {
	if err := o.Validate(); err != nil {
		return Standing{}, err
	}
	u, err := s.User(ctx, userID)
	if err != nil {
		return Standing{}, err
	}
	merged := u.Quota.Merge(o)
	if err := s.Store.SetUserQuota(ctx, userID, merged); err != nil {
		return Standing{}, err
	}
	if err := s.audit(ctx, actor.Owner(), "setQuota", "user:"+userID, u.Quota, merged); err != nil {
		return Standing{}, err
	}
	u.Quota = merged
	return s.StandingOf(ctx, coderunner.Caller{User: &u})
}

// SetRoleQuota sets a role's quota overrides (fields left nil keep
// theirs) and returns the role's budget (usage is zero).
func (s *Service) SetRoleQuota(ctx context.Context, actor coderunner.Caller, role coderunner.Role, o coderunner.QuotaOverride) (Standing, error) {
	if !role.Valid() {
		return Standing{}, coderunner.Errorf(coderunner.BadUserInput, "role %q is not one of STUDENT, EDITOR, ADMIN", role)
	}
	if err := o.Validate(); err != nil {
		return Standing{}, err
	}
	overrides, err := s.Store.RoleQuotas(ctx)
	if err != nil {
		return Standing{}, err
	}
	merged := overrides[role].Merge(o)
	if err := s.Store.SetRoleQuota(ctx, role, merged); err != nil {
		return Standing{}, err
	}
	if err := s.audit(ctx, actor.Owner(), "setRoleQuota", "role:"+string(role), overrides[role], merged); err != nil {
		return Standing{}, err
	}
	return Standing{Quota: s.Config.Quotas[role].Apply(merged), ResetsAt: coderunner.DayStart(s.now()).Add(24 * time.Hour)}, nil
}

// AuditLog returns up to first entries older than the entry with id
// after (from the newest if after is empty), newest first.
func (s *Service) AuditLog(ctx context.Context, first int, after string) ([]coderunner.AuditEntry, error) {
	if first < 1 || first > 500 {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "first must be 1 to 500")
	}
	return s.Store.AuditEntries(ctx, after, first)
}

func (s *Service) audit(ctx context.Context, actorID, action, target string, before, after any) error {
	if err := s.Store.AddAuditEntry(ctx, coderunner.NewAuditEntry(actorID, action, target, before, after, s.now())); err != nil {
		return fmt.Errorf("write the audit entry of %s on %s: %w", action, target, err)
	}
	return nil
}
