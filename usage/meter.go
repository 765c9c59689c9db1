package usage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"coderunner"
	"coderunner/internal/procfs"
)

// Meter measures, in a worker, what its runner host spends and has: the
// host's busy CPU time (programs, engine, worker and all) and its
// vCPU-seconds, per UTC day, stored as this worker's RunnerUsage — the two
// overhead factors' numerators, whose denominator is the programs' CPU
// time in the roll-ups.
type Meter struct {
	Store coderunner.UsageStore
	// Runner names this worker process; Host its host; VCPUs the host's
	// vCPUs.
	Runner, Host string
	VCPUs        int
	// ReadCPU reads the host's CPU counters; nil means procfs.ReadHostCPU.
	ReadCPU func() (procfs.HostCPU, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Measured, if not nil, is told of each sample's busy CPU seconds and
	// provisioned vCPU-seconds (the Prometheus counters).
	Measured func(busy, provisioned float64)
	Log      *slog.Logger

	last    procfs.HostCPU
	lastAt  time.Time
	current coderunner.RunnerUsage
}

// Start takes the first reading: what the host spends from now on counts.
func (m *Meter) Start() error {
	cpu, err := m.read()
	if err != nil {
		return err
	}
	m.last, m.lastAt = cpu, m.now()
	m.current = coderunner.RunnerUsage{Day: coderunner.DayOf(m.lastAt), Runner: m.Runner, Host: m.Host, VCPUs: m.VCPUs}
	return nil
}

// Sample reads the host's counters, adds what was spent since the last
// reading to the day it ends in, and stores that day's figures. A reading
// that spans midnight counts in the new day (one sample's worth of error,
// a minute in a day).
func (m *Meter) Sample(ctx context.Context) error {
	cpu, err := m.read()
	if err != nil {
		return err
	}
	now := m.now()
	busy := max(cpu.Busy-m.last.Busy, 0)
	provisioned := float64(m.VCPUs) * max(now.Sub(m.lastAt).Seconds(), 0)
	m.last, m.lastAt = cpu, now
	if d := coderunner.DayOf(now); !d.Equal(m.current.Day) {
		m.current = coderunner.RunnerUsage{Day: d, Runner: m.Runner, Host: m.Host, VCPUs: m.VCPUs}
	}
	m.current.BusyCPUSeconds += busy
	m.current.ProvisionedVCPUSeconds += provisioned
	m.current.UpdatedAt = now
	if m.Measured != nil {
		m.Measured(busy, provisioned)
	}
	if err := m.Store.SaveRunnerUsage(ctx, m.current); err != nil {
		return fmt.Errorf("save runner usage: %w", err)
	}
	return nil
}

// Run samples every interval until ctx ends, and once more as it ends (so
// a worker's last minutes count).
func (m *Meter) Run(ctx context.Context, every time.Duration) {
	log := m.Log
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The store outlives ctx for a moment: save the last minutes.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := m.Sample(final); err != nil {
				log.Warn("measure the runner host", "err", err)
			}
			return
		case <-t.C:
		}
		if err := m.Sample(ctx); err != nil && ctx.Err() == nil {
			log.Warn("measure the runner host", "err", err)
		}
	}
}

func (m *Meter) read() (procfs.HostCPU, error) {
	read := procfs.ReadHostCPU
	if m.ReadCPU != nil {
		read = m.ReadCPU
	}
	cpu, err := read()
	if err != nil {
		return procfs.HostCPU{}, fmt.Errorf("read the host's CPU time: %w", err)
	}
	return cpu, nil
}

func (m *Meter) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}
