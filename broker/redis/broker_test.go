package redis

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/brokertest"
	"coderunner/broker/redis/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// prefixes keeps the brokers of one test binary apart on the shared server.
var prefixes atomic.Int64

// open returns a Broker on the shared server with a key prefix of its own.
func open(t *testing.T, opts broker.Options) *Broker {
	t.Helper()
	return openAt(t, redistest.Shared(t), Config{Options: opts})
}

// openAt returns a Broker on the server at url, with a key prefix of its
// own unless cfg has one, and closes it when t ends.
func openAt(t *testing.T, url string, cfg Config) *Broker {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("test%d:", prefixes.Add(1))
	}
	b, err := Open(url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T, opts broker.Options) coderunner.Broker {
		return open(t, opts)
	}, func(t *testing.T, b coderunner.Broker) coderunner.Broker {
		rb := b.(*Broker)
		return openAt(t, redistest.Shared(t), Config{Options: rb.opts, Prefix: rb.keys.prefix})
	})
}
