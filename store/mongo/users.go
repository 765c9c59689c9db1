package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"coderunner"
)

// Documents. Times are BSON dates (millisecond precision), read back in UTC.

// quotaDoc is a coderunner.QuotaOverride: a nil field is absent, a set one
// present, 0 included.
type quotaDoc struct {
	RunsPerMinute     *int `bson:"runsPerMinute,omitempty"`
	RunsPerDay        *int `bson:"runsPerDay,omitempty"`
	ExecSecondsPerDay *int `bson:"execSecondsPerDay,omitempty"`
	MaxActiveRuns     *int `bson:"maxActiveRuns,omitempty"`
	SubmitsPerMinute  *int `bson:"submitsPerMinute,omitempty"`
	SubmitsPerDay     *int `bson:"submitsPerDay,omitempty"`
}

type userDoc struct {
	ID           string          `bson:"_id"`
	Name         string          `bson:"name"`
	NameKey      string          `bson:"nameKey"` // coderunner.NameKey(Name), under a unique index
	Role         coderunner.Role `bson:"role"`
	CreatedAt    time.Time       `bson:"createdAt"`
	Quota        quotaDoc        `bson:"quota"`
	PasswordHash string          `bson:"passwordHash"`
}

type sessionDoc struct {
	TokenHash string    `bson:"_id"`
	UserID    string    `bson:"userId"`
	CreatedAt time.Time `bson:"createdAt"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

type roleQuotaDoc struct {
	Role  coderunner.Role `bson:"_id"`
	Quota quotaDoc        `bson:"quota"`
}

type auditDoc struct {
	ID      string    `bson:"_id"`
	ActorID string    `bson:"actorId"`
	Action  string    `bson:"action"`
	Target  string    `bson:"target"`
	Before  string    `bson:"before"`
	After   string    `bson:"after"`
	At      time.Time `bson:"at"`
}

func (d userDoc) key() string { return d.ID }

func (d userDoc) domain() coderunner.User {
	return coderunner.User{
		ID: d.ID, Name: d.Name, Role: d.Role, CreatedAt: d.CreatedAt.UTC(),
		Quota: coderunner.QuotaOverride(d.Quota),
	}
}

func (d sessionDoc) domain() coderunner.Session {
	d.CreatedAt, d.ExpiresAt = d.CreatedAt.UTC(), d.ExpiresAt.UTC()
	return coderunner.Session(d)
}

func (d auditDoc) domain() coderunner.AuditEntry {
	d.At = d.At.UTC()
	return coderunner.AuditEntry(d)
}

// CreateUser stores a new user. The unique index on nameKey, not a prior
// look-up, refuses a taken name, so that of two sign-ups racing for one
// name exactly one wins.
func (s *Store) CreateUser(ctx context.Context, u coderunner.User, passwordHash string) error {
	_, err := s.users.InsertOne(ctx, userDoc{
		ID: u.ID, Name: u.Name, NameKey: coderunner.NameKey(u.Name), Role: u.Role, CreatedAt: u.CreatedAt,
		Quota: quotaDoc(u.Quota), PasswordHash: passwordHash,
	})
	if mongo.IsDuplicateKeyError(err) {
		// Which key is taken is not in the error from every server
		// (FerretDB names only the collection): look the id up.
		idTaken, lookupErr := exists(ctx, s.users, u.ID)
		switch {
		case lookupErr != nil:
			return fmt.Errorf("mongo store: create user %s: %w; then: %w", u.ID, err, lookupErr)
		case idTaken:
			return coderunner.Errorf(coderunner.Conflict, "a user with id %q exists already", u.ID)
		}
		return coderunner.Errorf(coderunner.Conflict, "the name %q is taken: choose another", u.Name)
	}
	if err != nil {
		return fmt.Errorf("mongo store: create user %s: %w", u.ID, err)
	}
	return nil
}

// UserByName returns the user whose name has the key of name, and its
// password hash.
func (s *Store) UserByName(ctx context.Context, name string) (coderunner.User, string, error) {
	var d userDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "nameKey", Value: coderunner.NameKey(name)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return coderunner.User{}, "", coderunner.Errorf(coderunner.NotFound, "no user is named %q", name)
	}
	if err != nil {
		return coderunner.User{}, "", fmt.Errorf("mongo store: read user named %q: %w", name, err)
	}
	return d.domain(), d.PasswordHash, nil
}

// Users returns the users with the given ids; missing ids are absent.
func (s *Store) Users(ctx context.Context, ids []string) (map[string]coderunner.User, error) {
	return findByIDs[userDoc, coderunner.User](ctx, s.users, ids)
}

// SetUserRole changes a user's role.
func (s *Store) SetUserRole(ctx context.Context, id string, role coderunner.Role) error {
	return s.setUserField(ctx, id, "role", role)
}

// SetUserQuota replaces a user's quota overrides.
func (s *Store) SetUserQuota(ctx context.Context, id string, q coderunner.QuotaOverride) error {
	return s.setUserField(ctx, id, "quota", quotaDoc(q))
}

func (s *Store) setUserField(ctx context.Context, id, field string, value any) error {
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: value}}}})
	if err != nil {
		return fmt.Errorf("mongo store: set %s of user %s: %w", field, id, err)
	}
	if res.MatchedCount == 0 {
		return coderunner.Errorf(coderunner.NotFound, "no user with id %q", id)
	}
	return nil
}

// RoleQuotas returns the quota overrides set per role.
func (s *Store) RoleQuotas(ctx context.Context) (map[coderunner.Role]coderunner.QuotaOverride, error) {
	docs, err := findAll[roleQuotaDoc](ctx, s.roleQuotas, bson.D{}, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[coderunner.Role]coderunner.QuotaOverride, len(docs))
	for _, d := range docs {
		out[d.Role] = coderunner.QuotaOverride(d.Quota)
	}
	return out, nil
}

// SetRoleQuota replaces a role's quota overrides.
func (s *Store) SetRoleQuota(ctx context.Context, role coderunner.Role, q coderunner.QuotaOverride) error {
	doc := roleQuotaDoc{Role: role, Quota: quotaDoc(q)}
	err := upsert(func() error {
		_, err := s.roleQuotas.ReplaceOne(ctx, bson.D{{Key: "_id", Value: role}}, doc, options.Replace().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("mongo store: set quota of role %s: %w", role, err)
	}
	return nil
}

// CreateSession stores a session. Token hashes stay out of error messages,
// which are logged: a hash names a live session.
func (s *Store) CreateSession(ctx context.Context, sess coderunner.Session) error {
	_, err := s.sessions.InsertOne(ctx, sessionDoc(sess))
	if mongo.IsDuplicateKeyError(err) {
		return coderunner.Errorf(coderunner.Conflict, "a session with this token exists already: sign in again")
	}
	if err != nil {
		return fmt.Errorf("mongo store: create session of user %s: %w", sess.UserID, err)
	}
	return nil
}

// Session returns the session with the given token hash, expired or not.
func (s *Store) Session(ctx context.Context, tokenHash string) (coderunner.Session, error) {
	var d sessionDoc
	err := s.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: tokenHash}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return coderunner.Session{}, coderunner.Errorf(coderunner.NotFound, "no such session: sign in again")
	}
	if err != nil {
		return coderunner.Session{}, fmt.Errorf("mongo store: read session: %w", err)
	}
	return d.domain(), nil
}

// DeleteSession removes a session, if there is one.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.sessions.DeleteOne(ctx, bson.D{{Key: "_id", Value: tokenHash}}); err != nil {
		return fmt.Errorf("mongo store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that expired before t.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	res, err := s.sessions.DeleteMany(ctx, bson.D{{Key: "expiresAt", Value: bson.D{{Key: "$lt", Value: t}}}})
	if err != nil {
		return 0, fmt.Errorf("mongo store: delete expired sessions: %w", err)
	}
	return int(res.DeletedCount), nil
}

// AddAuditEntry appends an entry to the audit log.
func (s *Store) AddAuditEntry(ctx context.Context, e coderunner.AuditEntry) error {
	if _, err := s.auditLog.InsertOne(ctx, auditDoc(e)); err != nil {
		return fmt.Errorf("mongo store: add audit entry %s (%s on %s): %w", e.ID, e.Action, e.Target, err)
	}
	return nil
}

// AuditEntries returns up to limit entries with an ID below before, newest
// (highest ID) first.
func (s *Store) AuditEntries(ctx context.Context, before string, limit int) ([]coderunner.AuditEntry, error) {
	if limit <= 0 {
		return nil, nil // MongoDB reads a limit of 0 as no limit at all
	}
	filter := bson.D{}
	if before != "" {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: before}}}}
	}
	docs, err := findAll[auditDoc](ctx, s.auditLog, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	entries := make([]coderunner.AuditEntry, len(docs))
	for i, d := range docs {
		entries[i] = d.domain()
	}
	return entries, nil
}
