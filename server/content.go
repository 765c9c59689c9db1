package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"coderunner"
)

// contentChanges publishes this replica's content changes and applies
// every replica's (Config.ContentChanges, Invalidate, Purge).
type contentChanges struct {
	broker     coderunner.ContentChanges
	invalidate func(coderunner.ContentChange)
	count      func()
	purge      *Purger
	log        *slog.Logger
}

func newContentChanges(cfg Config) contentChanges {
	return contentChanges{
		broker:     cfg.ContentChanges,
		invalidate: cfg.Invalidate,
		count:      cfg.CountContentChange,
		purge:      cfg.Purge,
		log:        cfg.Logger,
	}
}

// follow applies every change the broker delivers until ctx ends.
func (c *contentChanges) follow(ctx context.Context) {
	listen(ctx, c.broker.ContentChanged, func(change coderunner.ContentChange) {
		c.invalidate(change)
		if c.count != nil {
			c.count()
		}
	}, "content changes", c.log)
}

// ContentChanged tells every replica and the CDN that content changed:
// call it after each successful content write, with what the write
// changed (coderunner.ContentChange says what to name). It
//
//  1. drops what c reaches from this replica's caches at once, so that
//     the writer's next read, here, sees the change;
//  2. publishes c through Config.ContentChanges: every replica, this one
//     again among them, drops what c reaches within moments;
//  3. then, in the background, after Purger.Delay (time for the replicas
//     to apply it, lest the CDN fetch a stale copy again), asks the CDN to
//     purge c's tags (Config.Purge), retrying, counting and logging
//     failures (a purge still waiting when the process exits is lost:
//     the CDN's copies then expire).
//
// It fails only if the broker refused the publication: the change is
// stored and this replica shows it; the others show it when their caches
// expire (within a minute), and the CDN when its copies do.
func (s *Server) ContentChanged(ctx context.Context, c coderunner.ContentChange) error {
	if c.IsZero() {
		return nil
	}
	content := &s.content
	if content.invalidate != nil {
		content.invalidate(c)
	}
	var err error
	if content.broker != nil {
		err = content.broker.PublishContentChange(ctx, c)
	}
	if content.purge != nil {
		go content.purge.afterDelay(c.Tags())
	}
	return err
}

// Purger asks a CDN to drop its copies of the public responses a content
// change reaches: it POSTs {"tags": [...]} (application/json) to URL,
// with the change's content tags — the ones public responses list in
// their Surrogate-Key and Cache-Tag headers — and WideTag. Anything that
// answers 2xx will do: a Fastly or Cloudflare purge API behind a small
// adapter (docs/caching.md).
type Purger struct {
	URL string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Timeout bounds each attempt; default 5 s.
	Timeout time.Duration
	// Attempts is how many times a purge is tried: again after a network
	// error, a 5xx or a 429, not after another 4xx. Default 3.
	Attempts int
	// Backoff is the wait before the second attempt, doubled before each
	// next one. Default 1 s.
	Backoff time.Duration
	// Delay is how long Server.ContentChanged waits before it purges, for
	// every replica to drop its own copies first. Default 1 s; negative
	// means none.
	Delay time.Duration
	// Count, if not nil, is told the result of each purge: "ok" or
	// "failed" (after every attempt).
	Count func(result string)
	Log   *slog.Logger
}

// afterDelay purges tags after p.Delay.
func (p *Purger) afterDelay(tags []string) {
	delay := p.Delay
	if delay == 0 {
		delay = time.Second
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	_ = p.Purge(context.Background(), tags) // counted and logged
}

// Purge asks the CDN to purge tags and WideTag, trying up to Attempts
// times; it counts and logs the result.
func (p *Purger) Purge(ctx context.Context, tags []string) error {
	attempts, backoff := p.Attempts, p.Backoff
	if attempts <= 0 {
		attempts = 3
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	body, err := json.Marshal(map[string][]string{"tags": append(append([]string(nil), tags...), WideTag)})
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = p.post(ctx, body)
		if err == nil || !retry || attempt >= attempts {
			break
		}
		select {
		case <-time.After(backoff):
			backoff *= 2
			continue
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
		}
		break
	}
	result := "ok"
	if err != nil {
		result = "failed"
		if p.Log != nil {
			p.Log.Error("CDN purge failed: its copies of the changed content stay until they expire", "tags", tags, "err", err)
		}
	}
	if p.Count != nil {
		p.Count(result)
	}
	return err
}

// post makes one attempt; retry reports whether another may succeed.
func (p *Purger) post(ctx context.Context, body []byte) (retry bool, err error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("CDN purge: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("CDN purge: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	return retry, fmt.Errorf("CDN purge: %s: %s", resp.Status, bytes.TrimSpace(msg))
}
