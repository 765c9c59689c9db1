package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// OpenMonitored is Open with m told of every command the store sends.
func OpenMonitored(ctx context.Context, uri string, m *event.CommandMonitor) (*Store, error) {
	return openWith(ctx, uri, options.Client().SetMonitor(m))
}

// FiltersByIDOnly reports whether s filters its conditional updates on _id
// alone (on FerretDB v1).
func FiltersByIDOnly(s *Store) bool { return s.idFiltersOnly }

// UseConditionalFilters makes s send its conditional updates as to
// MongoDB even on FerretDB v1, so that the conformance suite covers both
// ways.
func UseConditionalFilters(s *Store) { s.idFiltersOnly = false }

var FerretDBMajor = ferretDBMajor
