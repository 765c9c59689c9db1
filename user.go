package coderunner

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Role is what a signed-in user may do. Each role may do everything the
// roles before it may.
type Role string

const (
	// RoleStudent runs and submits code: every account starts here.
	RoleStudent Role = "STUDENT"
	// RoleEditor also edits the curriculum.
	RoleEditor Role = "EDITOR"
	// RoleAdmin may do everything, roles and quotas included.
	RoleAdmin Role = "ADMIN"
)

// Roles lists every role, least powerful first.
var Roles = []Role{RoleStudent, RoleEditor, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

func (r Role) rank() int {
	switch r {
	case RoleStudent:
		return 1
	case RoleEditor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// User is an account. Its password hash is kept apart (UserStore.UserByName)
// so that it never travels with the user.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	// Quota overrides, field by field, the quota of the user's role.
	Quota QuotaOverride `json:"quota"`
}

// Session is a signed-in client. The token itself is never stored: only
// its hash, so a leaked database holds no usable token.
type Session struct {
	TokenHash string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuditEntry records one change an admin made: who, what, when, and the
// changed thing before and after (JSON).
type AuditEntry struct {
	// ID orders entries by time (a UUIDv7): newest first is descending ID.
	ID      string    `json:"id"`
	ActorID string    `json:"actorId"`
	Action  string    `json:"action"` // setRole, setQuota, setRoleQuota, createUser
	Target  string    `json:"target"` // "user:<id>" or "role:<ROLE>"
	Before  string    `json:"before"`
	After   string    `json:"after"`
	At      time.Time `json:"at"`
}

// NewAuditEntry records that actorID did action to target at at, with
// the value before and after as JSON.
func NewAuditEntry(actorID, action, target string, before, after any, at time.Time) AuditEntry {
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	return AuditEntry{
		ID: uuid.Must(uuid.NewV7()).String(), ActorID: actorID, Action: action, Target: target,
		Before: string(b), After: string(a), At: at.Truncate(time.Millisecond),
	}
}

// UserStore keeps accounts, sessions, per-role quotas and the audit log.
// store/sqlite and store/mongo implement it (storetest holds both to it).
type UserStore interface {
	// CreateUser stores a new user with its password hash. A name already
	// taken, compared by NameKey, is CONFLICT; so is a taken id.
	CreateUser(ctx context.Context, u User, passwordHash string) error
	// UserByName returns the user whose NameKey is NameKey(name), with its
	// password hash, or NOT_FOUND.
	UserByName(ctx context.Context, name string) (User, string, error)
	// Users returns the users with the given ids; missing ids are absent.
	Users(ctx context.Context, ids []string) (map[string]User, error)
	// SetUserRole changes a user's role; NOT_FOUND if there is none.
	SetUserRole(ctx context.Context, id string, role Role) error
	// SetUserQuota replaces a user's quota overrides; NOT_FOUND if there is none.
	SetUserQuota(ctx context.Context, id string, q QuotaOverride) error

	// RoleQuotas returns the quota overrides admins set per role; roles
	// without any are absent.
	RoleQuotas(ctx context.Context) (map[Role]QuotaOverride, error)
	// SetRoleQuota replaces a role's quota overrides.
	SetRoleQuota(ctx context.Context, role Role, q QuotaOverride) error

	// CreateSession stores a session; a taken TokenHash is CONFLICT.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with the given token hash, expired or
	// not, or NOT_FOUND.
	Session(ctx context.Context, tokenHash string) (Session, error)
	// DeleteSession removes a session; removing one that is gone is not an error.
	DeleteSession(ctx context.Context, tokenHash string) error
	// DeleteExpiredSessions removes sessions that expired before t and
	// reports how many.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error)

	// AddAuditEntry appends an entry to the audit log.
	AddAuditEntry(ctx context.Context, e AuditEntry) error
	// AuditEntries returns up to limit entries with an ID below before
	// (all if before is empty), newest first.
	AuditEntries(ctx context.Context, before string, limit int) ([]AuditEntry, error)
}

// Limits on account input, so that no client can store much.
const (
	MinNameRunes     = 3
	MaxNameRunes     = 32
	MinPasswordBytes = 8
	MaxPasswordBytes = 128
)

var namePattern = regexp.MustCompile(`^[\p{L}\p{N}_.-]+$`)

// NameKey is the form of a user name that uniqueness is decided on: two
// names with the same key are the same name.
func NameKey(name string) string { return strings.ToLower(name) }

// ValidateName reports what is wrong with a new user name, as BAD_USER_INPUT.
func ValidateName(name string) error {
	if n := utf8.RuneCountInString(name); !utf8.ValidString(name) || n < MinNameRunes || n > MaxNameRunes || !namePattern.MatchString(name) {
		return Errorf(BadUserInput, "a name is %d to %d letters, digits, '.', '-' or '_'", MinNameRunes, MaxNameRunes)
	}
	return nil
}

// ValidatePassword reports what is wrong with a new password, as BAD_USER_INPUT.
func ValidatePassword(password string) error {
	if len(password) < MinPasswordBytes || len(password) > MaxPasswordBytes {
		return Errorf(BadUserInput, "a password is %d to %d characters long", MinPasswordBytes, MaxPasswordBytes)
	}
	return nil
}
