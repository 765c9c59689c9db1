package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"coderunner/executor"
)

// What TestMain prepared for every test.
var (
	binary    string // the coderunner binary under test
	mongoURI  string // FerretDB, shared by every process; each test has its own database
	dockerErr error  // why the Docker engine or the sandbox image is unavailable
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "coderunner-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	binary = filepath.Join(dir, "coderunner")
	if err := build(binary); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s (race: %v) in %v\n", filepath.Base(binary), raceEnabled, time.Since(start).Round(time.Millisecond))

	// The workers would build a missing sandbox image at start-up, for
	// minutes, and miss every readiness deadline: build it here, once.
	dockerErr = prepareDocker()

	uri, stop, err := startFerretDB(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer stop()
	mongoURI = uri
	return m.Run()
}

// startFerretDB builds and starts FerretDB in a process of its own,
// without -race: in this one, under -race, it would answer many times
// slower than a MongoDB server, and every client the tests run would take
// from its share of the cores. stop ends it.
func startFerretDB(dir string) (uri string, stop func(), err error) {
	bin := filepath.Join(dir, "ferretdb")
	cmd := exec.Command("go", "build", "-o", bin, "coderunner/store/mongo/mongotest/ferretdb")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("go build ferretdb: %w\n%s", err, output)
	}
	data := filepath.Join(dir, "ferretdb-data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return "", nil, err
	}
	srv := exec.Command(bin, data)
	srv.Stderr = os.Stderr
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // should the tests die
	stdin, err := srv.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := srv.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("ferretdb exited before it served: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// build compiles cmd/coderunner into out, with -race when the tests have it.
func build(out string) error {
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "coderunner/cmd/coderunner")...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build coderunner: %w\n%s", err, output)
	}
	return nil
}

func prepareDocker() error {
	cli, err := executor.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pingCtx, cancelPing := context.WithTimeout(ctx, 10*time.Second)
	defer cancelPing()
	if _, err := cli.Ping(pingCtx); err != nil {
		return fmt.Errorf("%w (scripts/setup-docker.sh installs and starts one)", err)
	}
	if _, err := executor.EnsureImage(ctx, cli, executor.FromDebootstrap, os.Stderr); err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	return nil
}

// requireDocker stops t when the engine is not there: a failure when CI is
// set, a skip saying why otherwise (as redistest does for redis-server).
func requireDocker(t *testing.T) {
	t.Helper()
	if dockerErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("Docker engine unavailable and CI is set: %v", dockerErr)
	}
	t.Skipf("Docker engine unavailable (fails instead when CI is set): %v", dockerErr)
}
