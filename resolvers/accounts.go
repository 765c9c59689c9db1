package resolvers

import (
	"context"

	"coderunner"
	"coderunner/accounts"
	"coderunner/graph"
)

func (r *Resolver) User() graph.UserResolver   { return userResolver{r} }
func (r *Resolver) Quota() graph.QuotaResolver { return quotaResolver{r} }

func (r queryResolver) Me(ctx context.Context) (*coderunner.User, error) {
	return coderunner.CallerFrom(ctx).User, nil
}

func (r queryResolver) User(ctx context.Context, id, name *string) (*coderunner.User, error) {
	switch {
	case id != nil && name == nil:
		return pointer(r.Accounts.User(ctx, *id))
	case name != nil && id == nil:
		return pointer(r.Accounts.UserByName(ctx, *name))
	}
	return nil, coderunner.Errorf(coderunner.BadUserInput, "give either id or name")
}

func (r queryResolver) AuditLog(ctx context.Context, first int, after *string) ([]coderunner.AuditEntry, error) {
	return r.Accounts.AuditLog(ctx, first, deref(after))
}

func (r mutationResolver) SignUp(ctx context.Context, name, password string) (accounts.Auth, error) {
	return r.Accounts.SignUp(ctx, name, password, coderunner.CallerFrom(ctx).Addr)
}

func (r mutationResolver) SignIn(ctx context.Context, name, password string, setCookie bool) (accounts.Auth, error) {
	if setCookie && !accounts.CanSetCookie(ctx) {
		return accounts.Auth{}, coderunner.Errorf(coderunner.BadUserInput, "setCookie needs an HTTP POST: a WebSocket or event stream cannot set cookies")
	}
	auth, err := r.Accounts.SignIn(ctx, name, password, coderunner.CallerFrom(ctx).Addr)
	if err == nil && setCookie {
		err = accounts.SetSessionCookie(ctx, auth)
	}
	return auth, err
}

func (r mutationResolver) SignOut(ctx context.Context) (bool, error) {
	if err := r.Accounts.SignOut(ctx, coderunner.CallerFrom(ctx)); err != nil {
		return false, err
	}
	accounts.ClearSessionCookie(ctx)
	return true, nil
}

func (r mutationResolver) SetRole(ctx context.Context, userID string, role coderunner.Role) (coderunner.User, error) {
	return r.Accounts.SetRole(ctx, coderunner.CallerFrom(ctx), userID, role)
}

func (r mutationResolver) SetQuota(ctx context.Context, userID string, input coderunner.QuotaOverride) (accounts.Standing, error) {
	return r.Accounts.SetQuota(ctx, coderunner.CallerFrom(ctx), userID, input)
}

func (r mutationResolver) SetRoleQuota(ctx context.Context, role coderunner.Role, input coderunner.QuotaOverride) (accounts.Standing, error) {
	return r.Accounts.SetRoleQuota(ctx, coderunner.CallerFrom(ctx), role, input)
}

type userResolver struct{ *Resolver }

// Quota is the user's budget. Only the user and admins can reach a User
// (me, a run they may see, admins' queries), so no further check is needed.
func (r userResolver) Quota(ctx context.Context, u *coderunner.User) (accounts.Standing, error) {
	return r.Accounts.StandingOf(ctx, coderunner.Caller{User: u})
}

type quotaResolver struct{ *Resolver }

func (quotaResolver) ExecSecondsToday(_ context.Context, s *accounts.Standing) (float64, error) {
	return s.ExecToday.Seconds(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
