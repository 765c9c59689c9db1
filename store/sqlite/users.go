package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"coderunner"
)

const userColumns = `id, name, role, created_at, quota`

// CreateUser stores a new user. The UNIQUE name_key column, not a prior
// look-up, refuses a taken name, so that of two sign-ups racing for one
// name exactly one wins.
func (s *Store) CreateUser(ctx context.Context, u coderunner.User, passwordHash string) error {
	quota, err := encodeQuota(u.Quota)
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.ID, err)
	}
	_, err = s.exec(ctx, `INSERT INTO users (`+userColumns+`, name_key, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Role, toNanos(u.CreatedAt), quota, coderunner.NameKey(u.Name), passwordHash)
	switch uniqueViolation(err) {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE: // name_key is the table's one UNIQUE column
		return coderunner.Errorf(coderunner.Conflict, "the name %q is taken: choose another", u.Name)
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return coderunner.Errorf(coderunner.Conflict, "a user with id %q exists already", u.ID)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.ID, err)
	}
	return nil
}

// UserByName returns the user whose name has the key of name, and its
// password hash.
func (s *Store) UserByName(ctx context.Context, name string) (coderunner.User, string, error) {
	var hash string
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE name_key = ?`,
		coderunner.NameKey(name)), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return coderunner.User{}, "", coderunner.Errorf(coderunner.NotFound, "no user is named %q", name)
	}
	if err != nil {
		return coderunner.User{}, "", fmt.Errorf("read user named %q: %w", name, err)
	}
	return u, hash, nil
}

// Users returns the users with the given ids.
func (s *Store) Users(ctx context.Context, ids []string) (map[string]coderunner.User, error) {
	out := make(map[string]coderunner.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	in, args := inClause(ids)
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE id IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("query users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out[u.ID] = u
	}
	return out, rows.Err()
}

// scanUser scans userColumns, then the columns after them into more.
func scanUser(row interface{ Scan(...any) error }, more ...any) (coderunner.User, error) {
	var u coderunner.User
	var created int64
	var quota string
	if err := row.Scan(append([]any{&u.ID, &u.Name, &u.Role, &created, &quota}, more...)...); err != nil {
		return coderunner.User{}, err
	}
	u.CreatedAt = fromNanos(created)
	q, err := decodeQuota(quota)
	if err != nil {
		return coderunner.User{}, fmt.Errorf("user %s: %w", u.ID, err)
	}
	u.Quota = q
	return u, nil
}

// SetUserRole changes a user's role.
func (s *Store) SetUserRole(ctx context.Context, id string, role coderunner.Role) error {
	return s.updateUser(ctx, id, "role", role)
}

// SetUserQuota replaces a user's quota overrides.
func (s *Store) SetUserQuota(ctx context.Context, id string, q coderunner.QuotaOverride) error {
	quota, err := encodeQuota(q)
	if err != nil {
		return fmt.Errorf("set quota of user %s: %w", id, err)
	}
	return s.updateUser(ctx, id, "quota", quota)
}

// updateUser sets one column of a user; column is a constant of this
// package, never user input.
func (s *Store) updateUser(ctx context.Context, id, column string, value any) error {
	res, err := s.exec(ctx, `UPDATE users SET `+column+` = ? WHERE id = ?`, value, id)
	if err != nil {
		return fmt.Errorf("set %s of user %s: %w", column, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set %s of user %s: %w", column, id, err)
	}
	if n == 0 {
		return coderunner.Errorf(coderunner.NotFound, "no user with id %q", id)
	}
	return nil
}

// RoleQuotas returns the quota overrides set per role.
func (s *Store) RoleQuotas(ctx context.Context) (map[coderunner.Role]coderunner.QuotaOverride, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT role, quota FROM role_quotas`)
	if err != nil {
		return nil, fmt.Errorf("query role quotas: %w", err)
	}
	defer rows.Close()
	out := map[coderunner.Role]coderunner.QuotaOverride{}
	for rows.Next() {
		var role coderunner.Role
		var quota string
		if err := rows.Scan(&role, &quota); err != nil {
			return nil, fmt.Errorf("scan role quota: %w", err)
		}
		q, err := decodeQuota(quota)
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", role, err)
		}
		out[role] = q
	}
	return out, rows.Err()
}

// SetRoleQuota replaces a role's quota overrides.
func (s *Store) SetRoleQuota(ctx context.Context, role coderunner.Role, q coderunner.QuotaOverride) error {
	quota, err := encodeQuota(q)
	if err != nil {
		return fmt.Errorf("set quota of role %s: %w", role, err)
	}
	_, err = s.exec(ctx, `INSERT INTO role_quotas (role, quota) VALUES (?, ?)
		ON CONFLICT (role) DO UPDATE SET quota = excluded.quota`, role, quota)
	if err != nil {
		return fmt.Errorf("set quota of role %s: %w", role, err)
	}
	return nil
}

// Quota overrides are stored as JSON, where a nil field is absent and a set
// one present, 0 included.

func encodeQuota(q coderunner.QuotaOverride) (string, error) {
	b, err := json.Marshal(q)
	if err != nil {
		return "", fmt.Errorf("encode quota: %w", err)
	}
	return string(b), nil
}

func decodeQuota(s string) (coderunner.QuotaOverride, error) {
	var q coderunner.QuotaOverride
	if err := json.Unmarshal([]byte(s), &q); err != nil {
		return coderunner.QuotaOverride{}, fmt.Errorf("decode quota: %w", err)
	}
	return q, nil
}

// CreateSession stores a session. Token hashes stay out of error messages,
// which are logged: a hash names a live session.
func (s *Store) CreateSession(ctx context.Context, sess coderunner.Session) error {
	_, err := s.exec(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		sess.TokenHash, sess.UserID, toNanos(sess.CreatedAt), toNanos(sess.ExpiresAt))
	if uniqueViolation(err) != 0 {
		return coderunner.Errorf(coderunner.Conflict, "a session with this token exists already: sign in again")
	}
	if err != nil {
		return fmt.Errorf("create session of user %s: %w", sess.UserID, err)
	}
	return nil
}

// Session returns the session with the given token hash, expired or not.
func (s *Store) Session(ctx context.Context, tokenHash string) (coderunner.Session, error) {
	sess := coderunner.Session{TokenHash: tokenHash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT user_id, created_at, expires_at FROM sessions WHERE token_hash = ?`, tokenHash).
		Scan(&sess.UserID, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return coderunner.Session{}, coderunner.Errorf(coderunner.NotFound, "no such session: sign in again")
	}
	if err != nil {
		return coderunner.Session{}, fmt.Errorf("read session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt = fromNanos(created), fromNanos(expires)
	return sess, nil
}

// DeleteSession removes a session, if there is one.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that expired before t.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < ?`, toNanos(t))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(n), nil
}

// AddAuditEntry appends an entry to the audit log.
func (s *Store) AddAuditEntry(ctx context.Context, e coderunner.AuditEntry) error {
	_, err := s.exec(ctx, `INSERT INTO audit_log (id, actor_id, action, target, before_json, after_json, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, e.ID, e.ActorID, e.Action, e.Target, e.Before, e.After, toNanos(e.At))
	if err != nil {
		return fmt.Errorf("add audit entry %s (%s on %s): %w", e.ID, e.Action, e.Target, err)
	}
	return nil
}

// AuditEntries returns up to limit entries with an ID below before, newest
// (highest ID) first.
func (s *Store) AuditEntries(ctx context.Context, before string, limit int) ([]coderunner.AuditEntry, error) {
	if limit <= 0 {
		return nil, nil // SQLite reads a negative LIMIT as no limit at all
	}
	query, args := `SELECT id, actor_id, action, target, before_json, after_json, at FROM audit_log`, []any{}
	if before != "" {
		query, args = query+` WHERE id < ?`, append(args, before)
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query audit log: %w", err)
	}
	defer rows.Close()
	var entries []coderunner.AuditEntry
	for rows.Next() {
		var e coderunner.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.ActorID, &e.Action, &e.Target, &e.Before, &e.After, &at); err != nil {
			return nil, fmt.Errorf("scan audit entry: %w", err)
		}
		e.At = fromNanos(at)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// uniqueViolation returns which uniqueness constraint err broke,
// SQLITE_CONSTRAINT_PRIMARYKEY or SQLITE_CONSTRAINT_UNIQUE, or 0 if none.
func uniqueViolation(err error) int {
	var e *sqlitedriver.Error
	if errors.As(err, &e) {
		switch code := e.Code(); code {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return code
		}
	}
	return 0
}
