package resolvers

import (
	"context"
	"strings"
	"time"

	"coderunner"
	"coderunner/graph"
	"coderunner/loaders"
)

func (r *Resolver) Mutation() graph.MutationResolver         { return mutationResolver{r} }
func (r *Resolver) Subscription() graph.SubscriptionResolver { return subscriptionResolver{r} }
func (r *Resolver) Run() graph.RunResolver                   { return runResolver{r} }

type mutationResolver struct{ *Resolver }

func (r mutationResolver) Run(ctx context.Context, in graph.RunInput) (coderunner.Run, error) {
	req := coderunner.RunRequest{Code: in.Code, Stdin: in.Stdin, TimeLimitMs: in.TimeLimitMs, MemoryMB: in.MemoryMb}
	interactive := in.Stdin == ""
	if in.Interactive != nil {
		interactive = *in.Interactive
	}
	return r.Runs.Start(ctx, coderunner.CallerFrom(ctx), in.Language, req, interactive)
}

func (r mutationResolver) SendInput(ctx context.Context, runID, text string, closeInput bool) (bool, error) {
	if err := r.Runs.SendInput(ctx, coderunner.CallerFrom(ctx), runID, coderunner.ControlMessage{Input: text, CloseInput: closeInput}); err != nil {
		return false, err
	}
	return true, nil
}

func (r mutationResolver) CancelRun(ctx context.Context, id string) (coderunner.Run, error) {
	return r.Runs.Cancel(ctx, coderunner.CallerFrom(ctx), id)
}

// Run reads through the operation's loader, which asks the run service:
// aliases of one run share one read.
func (r queryResolver) Run(ctx context.Context, id string) (*coderunner.Run, error) {
	return pointer(loaders.For(ctx).Run.Load(ctx, id))
}

type subscriptionResolver struct{ *Resolver }

// RunEvents hands gqlgen the run's events; gqlgen ends the subscription
// when the channel closes, which the run service does after FINISHED, and
// then cancels ctx — as it does when the client goes away.
func (r subscriptionResolver) RunEvents(ctx context.Context, runID string, afterSeq int) (<-chan coderunner.RunEvent, error) {
	events, err := r.Runs.Events(ctx, coderunner.CallerFrom(ctx), runID, int64(afterSeq))
	if err != nil {
		return nil, err
	}
	if r.TrackSubscription != nil {
		context.AfterFunc(ctx, r.TrackSubscription())
	}
	return events, nil
}

type runResolver struct{ *Resolver }

// Owner is the run's user, or null for a guest's run (or a user since
// deleted). Whoever sees the run may see its owner.
func (r runResolver) Owner(ctx context.Context, run *coderunner.Run) (*coderunner.User, error) {
	return r.owner(ctx, run.Owner)
}

// owner is the user with id, or null for a guest (or a user since deleted).
func (r *Resolver) owner(ctx context.Context, id string) (*coderunner.User, error) {
	if strings.HasPrefix(id, coderunner.GuestOwnerPrefix) {
		return nil, nil
	}
	u, err := r.Accounts.User(ctx, id)
	if coderunner.ErrorCode(err) == coderunner.NotFound {
		return nil, nil
	}
	return pointer(u, err)
}

func (runResolver) StartedAt(_ context.Context, r *coderunner.Run) (*time.Time, error) {
	return nullTime(r.StartedAt), nil
}

func (runResolver) FinishedAt(_ context.Context, r *coderunner.Run) (*time.Time, error) {
	return nullTime(r.FinishedAt), nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
