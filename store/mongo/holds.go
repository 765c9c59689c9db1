package mongo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"coderunner"
)

// Holds: how curriculum writes exclude each other without transactions.
//
// FerretDB v1 makes no update conditional in fact: it reads the documents a
// filter matches, then writes each back by _id, so two updates filtered on
// {_id, version: 3} can both match and both write, and an update of one
// field writes back the whole document as it read it, undoing a field
// another writer changed in between. What it does make atomic is an insert
// under a unique _id (SQLite's primary key) and a delete by _id. So a
// writer first takes a hold on each curriculum document it will write, by
// inserting a claim {_id: "<collection>/<id>@<n>"} where n is one more than
// the document's seq (a fencing counter every write of the document
// advances); the one insert that succeeds wins the document, every other
// writer waits for seq to move on and tries again. The winner writes the
// document once, with seq n and a filter on the seq it read (a stale
// writer's filter matches nothing), and then deletes its claim. So each
// document has one writer at a time, and an update checks the version it
// read under its hold: of 8 editors updating version 3, exactly one writes
// version 4 and the rest see 4 and answer CONFLICT.
//
// Parents and children. A parent's (an age group's or a level's) hold
// covers its children's membership, positions and (for levels) draft
// flags: every write that changes them holds the parent first, so a create,
// delete, move or reorder reads the children and their positions with no
// other structural write in between, renumbers them 1..n, and writes the
// parent last (its version + 1, its problem count), which ends its hold.
// Children whose position changes are held and written too, so a
// concurrent content edit of a child cannot write back its old position.
// Holds are taken in one order — age groups, then levels, then problems,
// each by id — so two writers never wait for each other.
//
// Crashes. A writer that dies leaves its claim behind: the document it
// held stays at its old seq, and after orphanAfter other writers take the
// next number instead (the claim is presumed dead; no write takes nearly
// that long, and holdWait, the longest any write waits, is far shorter). A
// structural write that died half-way left children written and the parent
// not: positions may have a gap or a duplicate, the count be off. The next
// structural write of that parent renumbers its children from their stored
// order (position, then id) and recounts its problems, so it repairs
// them; reads meanwhile see the children in a stable order.

// claimsColl holds the claims; each is deleted by its writer once the
// document is written, so the collection stays small.
const claimsColl = "claims"

// orphanAfter is how old a claim must be to be taken for a dead writer's.
var orphanAfter = time.Minute

// holdWait bounds how long a write waits for the holds it needs; past it
// the write fails with coderunner.ErrBusy, having written nothing.
const holdWait = 15 * time.Second

type claimDoc struct {
	ID  string    `bson:"_id"`
	Key string    `bson:"key"` // "<collection>/<id>", to delete a document's claims
	At  time.Time `bson:"at"`
}

// target is a document to hold.
type target struct {
	coll *mongo.Collection
	rank int // age groups 0, levels 1, problems 2: the order of holds
	id   string
}

// hold is a document held: seq is what it read, next what it writes.
type hold struct {
	target
	seq, next int64
	raw       bson.Raw // the document as read under the hold
}

func (t target) key() string { return t.coll.Name() + "/" + t.id }

func (s *Store) ageGroupTarget(slug string) target { return target{s.ageGroups, 0, slug} }
func (s *Store) levelTarget(id string) target      { return target{s.levels, 1, id} }
func (s *Store) problemTarget(id string) target    { return target{s.problems, 2, id} }

// holds is the set of documents one write holds.
type holds struct {
	s  *Store
	by map[string]*hold
}

func (s *Store) newHolds() *holds { return &holds{s: s, by: map[string]*hold{}} }

// take holds each target in order (duplicates and targets already held are
// skipped). A target that does not exist is skipped: absent reports them.
func (hs *holds) take(ctx context.Context, ts ...target) (absent []target, err error) {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b target) int { return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.id, b.id)) })
	deadline := time.Now().Add(holdWait)
	for _, t := range slices.Compact(ts) {
		if _, ok := hs.by[t.key()]; ok {
			continue
		}
		h, err := hs.s.take(ctx, t, deadline)
		if err != nil {
			return absent, err
		}
		if h == nil {
			absent = append(absent, t)
			continue
		}
		hs.by[t.key()] = h
	}
	return absent, nil
}

// get returns the hold on t, which must have been taken.
func (hs *holds) get(t target) *hold { return hs.by[t.key()] }

// release gives up every hold not yet ended by a write.
func (hs *holds) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for k, h := range hs.by {
		hs.s.endHold(ctx, h)
		delete(hs.by, k)
	}
}

// take holds t: nil if it does not exist.
func (s *Store) take(ctx context.Context, t target, deadline time.Time) (*hold, error) {
	for try := 0; ; try++ {
		raw, err := t.coll.FindOne(ctx, bson.D{{Key: "_id", Value: t.id}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("mongo store: read %s: %w", t.key(), err)
		}
		seq, _ := raw.Lookup("seq").AsInt64OK()
		for next := seq + 1; ; next++ {
			claim := claimDoc{ID: fmt.Sprintf("%s@%d", t.key(), next), Key: t.key(), At: time.Now()}
			_, err := s.claims.InsertOne(ctx, claim)
			if err == nil {
				h := &hold{target: t, seq: seq, next: next}
				if h.raw, err = s.heldStill(ctx, h); h.raw != nil || err != nil {
					return h, err
				}
				break // the document moved on: read it again
			}
			if !mongo.IsDuplicateKeyError(err) {
				return nil, fmt.Errorf("mongo store: claim %s: %w", claim.ID, err)
			}
			var other claimDoc
			err = s.claims.FindOne(ctx, bson.D{{Key: "_id", Value: claim.ID}}).Decode(&other)
			if errors.Is(err, mongo.ErrNoDocuments) {
				break // its writer is done: read the document again
			}
			if err != nil {
				return nil, fmt.Errorf("mongo store: read claim %s: %w", claim.ID, err)
			}
			if time.Since(other.At) < orphanAfter {
				break // held: wait
			}
			// A dead writer's claim: take the next number.
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s stayed held for %v", coderunner.ErrBusy, t.key(), holdWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(1+rand.IntN(min(1+try, 20))) * time.Millisecond):
		}
	}
}

// heldStill reads the document h claimed again, now that its claim is in:
// if its seq is still the one h read, h holds it, and it returns the
// document. Otherwise the claim came too late — its number was another
// writer's, who wrote the document and deleted the claim before h's insert
// — and it deletes the claim and returns nil.
func (s *Store) heldStill(ctx context.Context, h *hold) (bson.Raw, error) {
	raw, err := h.coll.FindOne(ctx, bson.D{{Key: "_id", Value: h.id}}).Raw()
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		s.endHold(ctx, h)
		return nil, fmt.Errorf("mongo store: read %s: %w", h.key(), err)
	}
	if seq, _ := raw.Lookup("seq").AsInt64OK(); err != nil || seq != h.seq {
		s.endHold(ctx, h)
		return nil, nil
	}
	return raw, nil
}

// endHold deletes h's claim, ending the hold whether or not h was written.
func (s *Store) endHold(ctx context.Context, h *hold) {
	_, _ = s.claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%s@%d", h.key(), h.next)}})
}

// fence is the filter of a write under h: the document as h read it.
func (h *hold) fence() bson.D {
	return bson.D{{Key: "_id", Value: h.id}, {Key: "seq", Value: h.seq}}
}

// decode decodes the document as read under h.
func decode[D any](h *hold) (D, error) {
	var d D
	if err := bson.Unmarshal(h.raw, &d); err != nil {
		return d, fmt.Errorf("mongo store: decode %s: %w", h.key(), err)
	}
	return d, nil
}

// set sets fields of the held document (and its seq) and ends the hold.
func (hs *holds) set(ctx context.Context, t target, fields bson.D) error {
	h := hs.get(t)
	fields = append(slices.Clone(fields), bson.E{Key: "seq", Value: h.next})
	res, err := t.coll.UpdateOne(ctx, h.fence(), bson.D{{Key: "$set", Value: fields}})
	return hs.written(ctx, h, res, err)
}

// replace replaces the held document with doc, whose seq it sets (doc is
// a pointer to a document with a Seq field), and ends the hold.
func (hs *holds) replace(ctx context.Context, t target, doc any, seq *int64) error {
	h := hs.get(t)
	*seq = h.next
	res, err := t.coll.ReplaceOne(ctx, h.fence(), doc)
	if err != nil {
		return hs.written(ctx, h, nil, err)
	}
	return hs.written(ctx, h, &mongo.UpdateResult{MatchedCount: res.MatchedCount}, nil)
}

// delete deletes the held document and every claim on it.
func (hs *holds) delete(ctx context.Context, t target) error {
	h := hs.get(t)
	if _, err := t.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: t.id}}); err != nil {
		return fmt.Errorf("mongo store: delete %s: %w", t.key(), err)
	}
	delete(hs.by, t.key())
	if _, err := hs.s.claims.DeleteMany(ctx, bson.D{{Key: "key", Value: h.key()}}); err != nil {
		return fmt.Errorf("mongo store: delete the claims on %s: %w", t.key(), err)
	}
	return nil
}

// written ends the hold h after its write.
func (hs *holds) written(ctx context.Context, h *hold, res *mongo.UpdateResult, err error) error {
	if err == nil && res.MatchedCount != 1 {
		// Only a writer that outlived orphanAfter gets here.
		err = fmt.Errorf("%w: lost the hold on %s", coderunner.ErrBusy, h.key())
	}
	if err != nil {
		return fmt.Errorf("mongo store: write %s: %w", h.key(), err)
	}
	delete(hs.by, h.key())
	hs.s.endHold(ctx, h)
	return nil
}
