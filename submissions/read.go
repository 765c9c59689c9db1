package submissions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"coderunner"
	"coderunner/stream"
)

// Get returns a submission the caller may see: never a check submission
// (see SubmitCheck), whoever asks.
func (s *Service) Get(ctx context.Context, caller coderunner.Caller, id string) (coderunner.Submission, error) {
	sub, err := s.Store.Submission(ctx, id)
	if err == nil && (sub.IsCheck() || !caller.CanSee(sub.Owner)) {
		// Exactly what the store answers for one that does not exist.
		return coderunner.Submission{}, coderunner.ErrNoSubmission(id)
	}
	return sub, err
}

// Page is one page of a list of submissions, newest first.
type Page struct {
	Submissions []coderunner.Submission
	// EndCursor, passed as after, continues the list after this page.
	EndCursor string
	HasMore   bool
}

// Listing bounds.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// List returns a page of userID's submissions (the caller's own when
// userID is empty; only an admin may name another user), newest first,
// after the cursor of an earlier page, of problemID's only if it is not
// empty.
func (s *Service) List(ctx context.Context, caller coderunner.Caller, userID, problemID string, first int, after string) (Page, error) {
	if caller.User == nil {
		return Page{}, coderunner.Errorf(coderunner.Unauthenticated, "sign in to see your submissions")
	}
	if userID == "" {
		userID = caller.User.ID
	}
	if userID != caller.User.ID {
		if err := caller.Require(coderunner.RoleAdmin); err != nil {
			return Page{}, err
		}
	}
	if strings.HasPrefix(userID, coderunner.CheckOwnerPrefix) {
		// Check submissions are no one's record: as for a user without
		// submissions.
		return Page{}, nil
	}
	if first == 0 {
		first = DefaultPageSize
	}
	if first < 0 || first > MaxPageSize {
		return Page{}, coderunner.Errorf(coderunner.BadUserInput, "first must be 1 to %d", MaxPageSize)
	}
	cursor, err := decodeCursor(after)
	if err != nil {
		return Page{}, err
	}
	// One more than asked tells whether there are more.
	subs, err := s.Store.Submissions(ctx, userID, problemID, cursor, first+1)
	if err != nil {
		return Page{}, err
	}
	page := Page{Submissions: subs, HasMore: len(subs) > first}
	if page.HasMore {
		page.Submissions = subs[:first]
	}
	if n := len(page.Submissions); n > 0 {
		page.EndCursor = encodeCursor(page.Submissions[n-1].Cursor())
	}
	return page, nil
}

// Cursors are opaque to clients: base64 of the cursor's JSON.
func encodeCursor(c coderunner.SubmissionCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (coderunner.SubmissionCursor, error) {
	var c coderunner.SubmissionCursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return c, coderunner.Errorf(coderunner.BadUserInput, "after %q is not a cursor this API gave: pass the endCursor of the page before", s)
	}
	return c, nil
}

// Events delivers a submission's events after afterSeq — QUEUED, STARTED,
// one TEST_FINISHED per graded test, FINISHED — in order and each once,
// and closes after FINISHED or when ctx ends. A submission that finished
// so long ago that its replay buffer expired is replayed from the store.
func (s *Service) Events(ctx context.Context, caller coderunner.Caller, id string, afterSeq int64) (<-chan coderunner.RunEvent, error) {
	if afterSeq < 0 {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "afterSeq must be 0 or the seq of an event already seen")
	}
	sub, err := s.Get(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	return s.events(ctx, sub, afterSeq)
}

// AwaitCheck follows a check submission the caller started (see
// SubmitCheck) until it has finished, and returns it as stored, every
// test's data kept. Anyone else's, or one that is not a check
// submission, answers NOT_FOUND; the end of ctx ends the wait with its
// error.
func (s *Service) AwaitCheck(ctx context.Context, caller coderunner.Caller, id string) (coderunner.Submission, error) {
	sub, err := s.Store.Submission(ctx, id)
	if err == nil && (caller.User == nil || sub.Owner != coderunner.CheckOwner(caller.User.ID)) {
		return coderunner.Submission{}, coderunner.ErrNoSubmission(id)
	}
	if err != nil {
		return coderunner.Submission{}, err
	}
	// The events end with FINISHED, or when the broker ends the
	// subscription before the submission has finished: then follow again.
	for sub.Status != coderunner.SubmissionFinished {
		events, err := s.events(ctx, sub, 0)
		if err != nil {
			return coderunner.Submission{}, err
		}
		for range events {
			// FINISHED comes last; the stored submission has every test.
		}
		if err := ctx.Err(); err != nil {
			return coderunner.Submission{}, fmt.Errorf("check submission %s not finished: %w", id, err)
		}
		if sub, err = s.Store.Submission(ctx, id); err != nil {
			return coderunner.Submission{}, err
		}
	}
	return sub, nil
}

// events is Events of a submission the caller may see.
func (s *Service) events(ctx context.Context, sub coderunner.Submission, afterSeq int64) (<-chan coderunner.RunEvent, error) {
	id := sub.ID
	if sub.Status != coderunner.SubmissionFinished {
		live, err := s.Broker.Subscribe(ctx, id, afterSeq)
		if err != nil {
			return nil, err
		}
		every := s.FinishCheck
		if every <= 0 {
			every = 30 * time.Second
		}
		return stream.Follow(ctx, live, afterSeq, every, s.ending(id), withCode(sub)), nil
	}
	events, err := stream.Finished(ctx, s.Broker, id, afterSeq, func() []coderunner.RunEvent { return fromStore(sub) })
	if err != nil {
		return nil, err
	}
	out := make(chan coderunner.RunEvent, len(events))
	pass := withCode(sub)
	for _, e := range events {
		out <- pass(e)
	}
	close(out)
	return out, nil
}

// withCode gives a published FINISHED event the submission's code back:
// it is published without (see finishedEvent). It copies the event's
// submission, which the broker may share with other subscribers.
func withCode(sub coderunner.Submission) func(coderunner.RunEvent) coderunner.RunEvent {
	return func(e coderunner.RunEvent) coderunner.RunEvent {
		if e.Type != coderunner.EventFinished || e.Submission == nil {
			return e
		}
		finished := *e.Submission
		finished.Code = sub.Code
		e.Submission = &finished
		return e
	}
}

// ending reads submission id from the store, for stream.Follow.
func (s *Service) ending(id string) stream.Ending {
	return func(ctx context.Context, last int64) (coderunner.RunEvent, bool) {
		sub, err := s.Store.Submission(ctx, id)
		if err != nil || sub.Status != coderunner.SubmissionFinished {
			return coderunner.RunEvent{}, false
		}
		return coderunner.RunEvent{RunID: id, Seq: last + 1, Type: coderunner.EventFinished, Submission: &sub}, true
	}
}

// fromStore rebuilds a finished submission's events from its stored
// record, to be numbered by stream.Finished.
func fromStore(sub coderunner.Submission) []coderunner.RunEvent {
	all := []coderunner.RunEvent{{Type: coderunner.EventQueued}, {Type: coderunner.EventStarted}}
	for i := range sub.Tests {
		all = append(all, coderunner.RunEvent{Type: coderunner.EventTestFinished, Test: &sub.Tests[i]})
	}
	return append(all, coderunner.RunEvent{Type: coderunner.EventFinished, Submission: &sub})
}
