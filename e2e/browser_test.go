package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"coderunner/curriculum"
)

// The browser tests drive Debian's chromium (scripts/setup-chromium.sh),
// headless, against `coderunner serve` with the real sandbox: the editor
// app at / and GraphiQL at /graphql, as a child and a frontend developer
// use them. Each saves screenshots to $CODERUNNER_SCREENSHOTS (default
// $TMPDIR/coderunner-screenshots); docs/app.png is one of them.

// startServe starts one `serve` process (SQLite, the in-process queue, a
// worker) and returns it once ready; clean-up stops it.
func startServe(t *testing.T) *proc {
	t.Helper()
	_, p := startServeCluster(t)
	return p
}

// startServeCluster is startServe, with the cluster it runs in (to create
// accounts with the command line).
func startServeCluster(t *testing.T) (*cluster, *proc) {
	t.Helper()
	requireDocker(t)
	c := &cluster{t: t, env: []string{
		"CODERUNNER_ENV=development",
		"CODERUNNER_DATA=" + t.TempDir(),
		"CODERUNNER_WORKERS=2",
		"CODERUNNER_POOL_SIZE=1",
		"CODERUNNER_LOG_LEVEL=debug",
	}}
	t.Cleanup(c.report)
	t.Cleanup(c.stopAll)
	p := c.start("serve", "serve")
	c.waitReady(p, readyWithin)
	return c, p
}

// browser is one headless chromium tab on a server, which records every
// request the page makes and every Content-Security-Policy violation.
type browser struct {
	t        *testing.T
	ctx      context.Context
	origin   string   // http://host:port
	requests []string // URLs the page asked for
	failed   []string // responses of 400 and above: "404 http://…"
	shots    string   // screenshot directory

	mu      sync.Mutex
	dialogs []string // the messages of the confirm() dialogs the page opened, each accepted
}

func newBrowser(t *testing.T, server *proc) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium unavailable and CI is set: %v", err)
		}
		t.Skipf("chromium unavailable (fails instead when CI is set; scripts/setup-chromium.sh installs it): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 1000),
		chromedp.NoSandbox, // tests run as root
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancel)

	b := &browser{t: t, ctx: ctx, origin: "http://" + server.addr, shots: screenshotDir(t)}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if !strings.HasPrefix(e.Request.URL, "data:") { // no request: the data is in the URL
				b.requests = append(b.requests, e.Request.URL)
			}
		case *network.EventWebSocketCreated:
			b.requests = append(b.requests, e.URL)
		case *network.EventResponseReceived:
			if e.Response.Status >= 400 {
				b.failed = append(b.failed, fmt.Sprintf("%d %s", e.Response.Status, e.Response.URL))
			}
		case *page.EventJavascriptDialogOpening:
			b.mu.Lock()
			b.dialogs = append(b.dialogs, e.Message)
			b.mu.Unlock()
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true)) // the page waits for the answer
		case *runtime.EventExceptionThrown:
			t.Logf("page: uncaught %s", e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			t.Logf("page console.%s: %s", e.Type, strings.Join(args, " "))
		}
	})
	b.run("start", network.Enable(), chromedp.ActionFunc(func(ctx context.Context) error {
		// Injected by the debugger, so the page's CSP does not apply to it.
		_, err := page.AddScriptToEvaluateOnNewDocument(`window.cspViolations = [];
			document.addEventListener('securitypolicyviolation', (e) => cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`).Do(ctx)
		return err
	}))
	t.Cleanup(b.checkBudget)
	return b
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("CODERUNNER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "coderunner-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs actions, failing the test with what it was doing.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.screenshot("failed")
		var page string
		chromedp.Run(b.ctx, chromedp.Evaluate(`document.body.innerText`, &page))
		b.t.Fatalf("%s: %v\nthe page reads:\n%s\nthe page asked for: %q", what, err, page, b.requests)
	}
}

// waitFor polls the JavaScript expression js until it is true.
func (b *browser) waitFor(what, js string, within time.Duration) {
	b.t.Helper()
	b.run("wait for "+what, chromedp.Poll(js, nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(within)))
}

func (b *browser) text(selector string) string {
	b.t.Helper()
	var s string
	b.run("read "+selector, chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ''`, selector), &s))
	return s
}

// screenshot saves the whole page as NAME.png.
func (b *browser) screenshot(name string) {
	var png []byte
	if err := chromedp.Run(b.ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.shots, b.t.Name()+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Error(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// checkBudget is the page's half of the budget check (web/web_test.go has
// the bundles' sizes): no request left the origin, none failed (a missing
// file, the favicon included), and the Content-Security-Policy refused
// nothing.
func (b *browser) checkBudget() {
	ws := "ws" + strings.TrimPrefix(b.origin, "http")
	for _, u := range b.requests {
		if !strings.HasPrefix(u, b.origin+"/") && !strings.HasPrefix(u, ws+"/") {
			b.t.Errorf("the page asked for %s, outside its origin %s", u, b.origin)
		}
	}
	if len(b.failed) > 0 {
		b.t.Errorf("requests failed: %q", b.failed)
	}
	var violations []string
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(`window.cspViolations ?? []`, &violations)); err != nil {
		b.t.Errorf("read CSP violations: %v", err)
	}
	if len(violations) > 0 {
		b.t.Errorf("Content-Security-Policy violations: %q", violations)
	}
	if len(b.requests) == 0 {
		b.t.Error("no request was recorded: is the network listener working?")
	}
}

// setCode replaces the editor's content, as typing it would (typing it key
// by key would be re-indented by the editor as it goes).
func (b *browser) setCode(code string) {
	b.t.Helper()
	b.setCodeIn("#editor", code)
}

// setCodeIn is setCode for the code editor in the element selector.
func (b *browser) setCodeIn(selector, code string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const view = document.querySelector(%q + ' .cm-content').cmView.rootView.view;
		view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: %s } });
		return true;
	})()`, selector, jsString(code))
	b.run("set the code", chromedp.Evaluate(js, nil))
}

// signIn opens path and signs in as name, an account createUser made.
func (b *browser) signIn(name, path string) {
	b.t.Helper()
	b.run("sign in as "+name,
		chromedp.Navigate(b.origin+path),
		chromedp.WaitVisible(`#signin`),
		chromedp.SendKeys(`#signin input[name=name]`, name),
		chromedp.SendKeys(`#signin input[name=password]`, name+" password"),
		chromedp.Click(`#signin button[name=signIn]`),
	)
	b.waitFor("the account", fmt.Sprintf(`document.querySelector('#account').textContent.includes('Signed in as %s')`, name), 20*time.Second)
}

func (b *browser) signOut() {
	b.t.Helper()
	b.clickText(`#account button`, "Sign out")
	b.waitFor("the sign-in form", `!document.querySelector('#signin').hidden`, 10*time.Second)
}

// save saves the edit form and waits for its outcome, the class of
// #saveResult: saved or refused.
func (b *browser) save(outcome string) {
	b.t.Helper()
	b.run("save", chromedp.Click(`#save`))
	b.waitFor("the save's outcome", fmt.Sprintf(`document.querySelector('#saveResult').className === %q`, outcome), 60*time.Second)
}

// clickText clicks the element matching selector whose text is text.
func (b *browser) clickText(selector, text string) {
	b.t.Helper()
	b.run("click "+text, chromedp.Evaluate(fmt.Sprintf(`[...document.querySelectorAll(%q)].find((e) => e.textContent === %s).click()`, selector, jsString(text)), nil))
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// TestBrowserEditor is a child's session in the editor app: sign up, pick
// a problem, run a program whose output arrives in pieces and which asks
// for input, reload in the middle of a run, stop one, submit a wrong
// answer and then the right one.
func TestBrowserEditor(t *testing.T) {
	server := startServe(t)
	b := newBrowser(t, server)
	cur, err := curriculum.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	problem := cur.Problems[0] // hello-world: its first sample test is "Ada"
	if problem.ID != "hello-world" {
		t.Fatalf("the first shipped problem is %s, want hello-world", problem.ID)
	}

	b.run("sign up",
		chromedp.Navigate(b.origin+"/"),
		chromedp.WaitVisible(`#signin`),
		chromedp.SendKeys(`#signin input[name=name]`, "ada"),
		chromedp.SendKeys(`#signin input[name=password]`, "correct horse"),
		chromedp.Click(`#signin button[name=signUp]`),
	)
	b.waitFor("the account", `document.querySelector('#account').textContent.includes('Signed in as ada')`, 20*time.Second)
	b.waitFor("the problem list", `[...document.querySelectorAll('#problems button')].some((b) => b.textContent === 'Say hello')`, 20*time.Second)
	if got, want := b.text("#levelDescription"), "Make the computer talk with print() and listen with input()."; got != want {
		t.Errorf("the level's description reads %q, want %q", got, want)
	}
	b.run("open the problem", chromedp.Evaluate(`[...document.querySelectorAll('#problems button')].find((b) => b.textContent === 'Say hello').click()`, nil))
	b.waitFor("the statement", `document.querySelector('#problemTitle').textContent === 'Say hello' && document.querySelector('#statement strong') !== null`, 10*time.Second)
	if got := b.text(".cm-content"); !strings.Contains(got, "name = input()") {
		t.Errorf("the editor holds %q, want the starter code", got)
	}

	// Run: the output is shown as it arrives, and the program's input()
	// is answered from the input line.
	b.setCode("import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\nname = input('Your name? ')\nprint('Hello, ' + name + '!')\n")
	b.run("run", chromedp.Click(`#run`))
	var seen []string
	deadline := time.Now().Add(60 * time.Second)
	for out := ""; !strings.Contains(out, "Your name? "); out = b.text("#output") {
		if len(seen) == 0 || seen[len(seen)-1] != out {
			seen = append(seen, out)
		}
		if time.Now().After(deadline) {
			b.screenshot("run")
			t.Fatalf("the prompt did not arrive; the output went %q", seen)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if !containsWith(seen, "tick 0", "tick 2") {
		t.Errorf("the output never showed tick 0 without tick 2: it arrived whole, %q", seen)
	}
	b.run("answer input()", chromedp.SendKeys(`#inputLine`, "Ada"), chromedp.KeyEvent(kb.Enter))
	b.waitFor("the run's end", `document.querySelector('#runStatus').textContent.includes('COMPLETED')`, 30*time.Second)
	if got, want := b.text("#output"), "tick 0\ntick 1\ntick 2\nYour name? Ada\nHello, Ada!\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	b.screenshot("run")

	// A reload in the middle of a run picks it up where it was
	// (afterSeq), without losing or repeating output.
	b.setCode("import time\nfor i in range(6):\n    print(i, flush=True)\n    time.sleep(0.4)\n")
	b.run("run", chromedp.Click(`#run`))
	b.waitFor("the first lines", `document.querySelector('#output').textContent.startsWith('0\n1\n')`, 60*time.Second)
	b.run("reload", chromedp.Reload())
	b.waitFor("the resumed run's end", `document.querySelector('#runStatus').textContent.includes('COMPLETED')`, 30*time.Second)
	if got, want := b.text("#output"), "0\n1\n2\n3\n4\n5\n"; got != want {
		t.Errorf("output after a reload mid-run %q, want %q", got, want)
	}

	// Stop.
	b.setCode("import time\nwhile True:\n    print('again', flush=True)\n    time.sleep(0.2)\n")
	b.run("run", chromedp.Click(`#run`))
	b.waitFor("output", `document.querySelector('#output').textContent.includes('again')`, 60*time.Second)
	b.run("stop", chromedp.Click(`#stop`))
	b.waitFor("the stop", `document.querySelector('#runStatus').textContent.includes('CANCELLED')`, 30*time.Second)

	// A wrong answer (the starter code) shows the failing sample's diff.
	b.setCode(problem.StarterCode)
	b.run("submit", chromedp.Click(`#submit`))
	b.waitFor("the verdict", `document.querySelector('#verdict').textContent.includes('WRONG_ANSWER')`, 60*time.Second)
	first := b.text("#tests li:first-child")
	if !strings.Contains(first, "WRONG_ANSWER") || !strings.Contains(first, "Differences:") || !strings.Contains(first, "Hello, Ada!") {
		t.Errorf("the first sample test shows %q, want WRONG_ANSWER with its diff", first)
	}
	b.screenshot("wrong")

	// The reference solution: every test ticked, and the problem too.
	b.setCode(problem.ReferenceSolution)
	b.run("submit", chromedp.Click(`#submit`))
	b.waitFor("the verdict", `document.querySelector('#verdict').textContent.includes('ACCEPTED')`, 60*time.Second)
	var verdicts []string
	b.run("read the tests", chromedp.Evaluate(`[...document.querySelectorAll('#tests li')].map((li) => li.dataset.verdict ?? '')`, &verdicts))
	if want := len(problem.SampleTests) + len(problem.HiddenTests); len(verdicts) != want {
		t.Errorf("%d tests shown, want %d", len(verdicts), want)
	}
	for i, v := range verdicts {
		if v != "ACCEPTED" {
			t.Errorf("test %d: %q, want ACCEPTED", i+1, v)
		}
	}
	b.waitFor("the solved tick", `document.querySelector('#problems .tick') !== null`, 10*time.Second)
	b.screenshot("accepted")
}

// containsWith reports whether one of seen contains has but not hasNot.
func containsWith(seen []string, has, hasNot string) bool {
	for _, s := range seen {
		if strings.Contains(s, has) && !strings.Contains(s, hasNot) {
			return true
		}
	}
	return false
}

// TestBrowserGraphiQL opens /graphql in the browser, runs a query, then
// follows a run's events with a subscription over the WebSocket.
func TestBrowserGraphiQL(t *testing.T) {
	server := startServe(t)
	b := newBrowser(t, server)

	b.run("open GraphiQL", chromedp.Navigate(b.origin+"/graphql"))
	// GraphiQL runs nothing until both editors are up.
	b.waitFor("the editors", `document.querySelector('.graphiql-query-editor .CodeMirror') !== null && document.querySelector('.graphiql-response .CodeMirror') !== null`, 30*time.Second)
	b.graphiQL("{ ageGroups { slug title } }", "Explorers")

	// A run queued over HTTP, followed live in GraphiQL.
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($code: String!) { run(input: {language: "python", code: $code}) { id } }`,
		"variables": map[string]string{"code": "import time\ntime.sleep(1)\nprint('from the sandbox')\n"},
	})
	resp, err := http.Post(server.url("/graphql"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct{ Run struct{ ID string } }
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || out.Data.Run.ID == "" {
		t.Fatalf("run: %v %+v", err, out)
	}
	b.graphiQL(fmt.Sprintf(`subscription { runEvents(runId: %q) { seq type text run { status stdout } } }`, out.Data.Run.ID), "runEvents")
	b.waitFor("the subscription's FINISHED", `document.querySelector('.graphiql-response').textContent.includes('FINISHED')`, 60*time.Second)
	if got := b.text(".graphiql-response"); !strings.Contains(got, "from the sandbox") {
		t.Errorf("the response shows %q, want the run's output", got)
	}
	b.screenshot("subscription")
}

// graphiQL replaces GraphiQL's query and runs it, until the response
// shows shown: GraphiQL ignores the button until its editors are wired
// up, a moment after they appear.
func (b *browser) graphiQL(query, shown string) {
	b.t.Helper()
	b.run("enter "+query, chromedp.Evaluate(fmt.Sprintf(`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(%s)`, jsString(query)), nil))
	// With more than one operation the button opens a menu to choose one.
	b.waitFor("a plain execute button", `!document.querySelector('.graphiql-execute-button').hasAttribute('aria-haspopup')`, 10*time.Second)
	answered := fmt.Sprintf(`document.querySelector('.graphiql-response').textContent.includes(%s)`, jsString(shown))
	for range 10 {
		b.run("execute "+query, chromedp.Click(`.graphiql-execute-button`))
		var ok bool
		err := chromedp.Run(b.ctx, chromedp.Poll(answered, &ok, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(3*time.Second)))
		if err == nil {
			return
		}
	}
	b.waitFor("GraphiQL's answer to "+query, answered, time.Second)
}

// TestBrowserEditing is an editor's session in the app: open a problem's
// form from the Edit control, change its title and save (the student view
// shows the new title); break its reference solution and save (the
// sandbox check's failing tests show with their diff, and nothing is
// stored); save over someone else's change (CONFLICT: load theirs, bring
// one's own edits back, save). A student sees no Edit control.
func TestBrowserEditing(t *testing.T) {
	c, server := startServeCluster(t)
	for _, u := range []struct{ name, role string }{{"eve", "EDITOR"}, {"ned", "EDITOR"}, {"ada", "STUDENT"}} {
		c.createUser(t, u.name, u.role)
	}
	b := newBrowser(t, server)
	cur, err := curriculum.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	problem := cur.Problems[0] // hello-world, "Say hello"
	ned, _ := signIn(t, server, "ned")
	before := problemForEditing(t, server, ned, problem.ID)

	signInAs := func(name string) {
		b.signIn(name, "/#problem="+problem.ID)
		b.waitFor("the problem", `document.querySelector('#problemTitle').textContent !== 'Choose a problem'`, 20*time.Second)
	}
	field := func(name string) string {
		var v string
		b.run("read "+name, chromedp.Evaluate(fmt.Sprintf(`document.querySelector('#editing').elements[%q].value`, name), &v))
		return v
	}

	signInAs("eve")
	b.waitFor("the Edit control", `!document.querySelector('#edit').hidden`, 10*time.Second)
	b.run("open the form", chromedp.Click(`#edit`))
	b.waitFor("the form", `!document.querySelector('#editing').hidden && document.querySelector('#problem').hidden`, 10*time.Second)
	if got := field("title"); got != problem.Title {
		t.Errorf("the form's title is %q, want %q", got, problem.Title)
	}
	if got := b.text("#referenceSolution .cm-content"); !strings.Contains(got, "input()") {
		t.Errorf("the reference solution reads %q", got)
	}
	var rows int
	b.run("count the test rows", chromedp.Evaluate(`document.querySelectorAll('#sampleTests .testRow, #hiddenTests .testRow').length`, &rows))
	if want := len(problem.SampleTests) + len(problem.HiddenTests); rows != want {
		t.Errorf("the form shows %d tests, want %d", rows, want)
	}
	if b.text("#statementPreview strong") == "" {
		t.Errorf("the statement's preview has no bold text: %q", b.text("#statementPreview"))
	}

	// A new title: saved, checked, and shown to students.
	const title = "Say hello, politely"
	b.run("edit the title", chromedp.SetValue(`#editing input[name=title]`, title))
	b.save("saved")
	if got, want := b.text("#saveResult"), fmt.Sprintf("version %d", before.Version+1); !strings.Contains(got, want) {
		t.Errorf("after saving the form reads %q, want %q", got, want)
	}
	b.screenshot("saved")
	b.run("back to the problem", chromedp.Click(`#closeEditing`))
	b.waitFor("the new title", fmt.Sprintf(`document.querySelector('#problemTitle').textContent === %q && [...document.querySelectorAll('#problems button')].some((b) => b.textContent === %[1]q)`, title), 10*time.Second)

	// A wrong reference solution: refused by the sandbox check, with the
	// failing tests' diffs, and nothing stored.
	b.run("open the form", chromedp.Click(`#edit`))
	b.waitFor("the form", `!document.querySelector('#editing').hidden`, 10*time.Second)
	b.setCodeIn("#referenceSolution", "name = input()\nprint('Hello, world!')\nprint('Hi, ' + name + '!')\n")
	b.save("refused")
	refusal := b.text("#saveResult")
	for _, want := range []string{"sandbox check refused", "The reference solution fails sample test 1: WRONG_ANSWER", "Differences:", "Hello, Ada!", "Hi, Ada!", "hidden test 1"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("the refusal reads %q; want it to hold %q", refusal, want)
		}
	}
	b.screenshot("refused")
	stored := problemForEditing(t, server, ned, problem.ID)
	if stored.Version != before.Version+1 || stored.ReferenceSolution != problem.ReferenceSolution || stored.Title != title {
		t.Errorf("after the refusal the problem is at version %d, titled %q, with reference solution %q; want version %d unchanged", stored.Version, stored.Title, stored.ReferenceSolution, before.Version+1)
	}

	// Someone else saves meanwhile: CONFLICT. Loading their version keeps
	// one's own edits to bring back, and saving then replaces theirs.
	b.setCodeIn("#referenceSolution", problem.ReferenceSolution)
	theirs := stored
	theirs.Title = "Say hello (Ned's)"
	var updated struct{ UpdateProblem struct{ Version int64 } }
	graphqlAs(t, server, ned, updateProblemMutation, map[string]any{"in": problemInput(t, theirs)}, &updated)
	const statement = "Print `Hello, world!`, then greet the person named on the input."
	b.run("edit the statement", chromedp.SetValue(`#editing textarea[name=statement]`, statement))
	b.save("refused")
	conflict := b.text("#saveResult")
	for _, want := range []string{"someone else saved", fmt.Sprintf("version %d", updated.UpdateProblem.Version), "They changed: title.", "You changed: statement."} {
		if !strings.Contains(conflict, want) {
			t.Errorf("the conflict reads %q; want it to hold %q", conflict, want)
		}
	}
	b.screenshot("conflict")
	b.clickText(`#saveResult button`, "Load their version")
	if got := field("title"); got != theirs.Title {
		t.Errorf("after loading their version the title is %q, want %q", got, theirs.Title)
	}
	if got := field("statement"); got == statement {
		t.Errorf("after loading their version the statement is still the editor's")
	}
	b.clickText(`#saveResult button`, "Bring my edits back")
	if got := field("statement"); got != statement {
		t.Errorf("after bringing the edits back the statement is %q, want %q", got, statement)
	}
	b.save("saved")
	if got := problemForEditing(t, server, ned, problem.ID); got.Version != updated.UpdateProblem.Version+1 || got.Title != title || got.Statement != statement {
		t.Errorf("after saving over the conflict the problem is %+v; want version %d with the editor's title and statement", got, updated.UpdateProblem.Version+1)
	}
	b.run("back to the problem", chromedp.Click(`#closeEditing`))
	b.waitFor("the new statement", `document.querySelector('#statement').textContent.includes('greet the person')`, 10*time.Second)

	// A student: no Edit control.
	b.signOut()
	var left []string
	b.run("read the sign-in form", chromedp.Evaluate(`[...document.querySelectorAll('#signin input')].map((i) => i.value).filter((v) => v)`, &left))
	if len(left) > 0 {
		t.Errorf("after signing out the sign-in form still holds %q", left)
	}
	signInAs("ada")
	var hidden bool
	b.run("look for the Edit control", chromedp.Evaluate(`document.querySelector('#edit').hidden && document.querySelector('#editing').hidden`, &hidden))
	if !hidden {
		t.Error("a student sees the Edit control")
	}
	if got := b.text("#problemTitle"); got != title {
		t.Errorf("the student sees the title %q, want %q", got, title)
	}
	b.screenshot("student")
}

// TestBrowserCurriculum is an editor shaping the curriculum in the app:
// a new problem in a level, saved as a draft (marked in the editor's list,
// openable after a reload, unseen by students), then published through
// the sandbox check (students see it), moved up, refused a delete after
// someone else changed it (CONFLICT), and deleted (gone for students too);
// a level created, renamed, moved and deleted, and a level with problems
// refused deletion with the API's reason; an age group created, moved and
// deleted. A student sees none of these controls.
func TestBrowserCurriculum(t *testing.T) {
	c, server := startServeCluster(t)
	for _, u := range []struct{ name, role string }{{"eve", "EDITOR"}, {"ned", "EDITOR"}, {"ada", "STUDENT"}} {
		c.createUser(t, u.name, u.role)
	}
	ned, _ := signIn(t, server, "ned")
	ada, _ := signIn(t, server, "ada")
	b := newBrowser(t, server)
	const level = "explorers-1" // "Hello, Python": hello-world, echo and favorite animal
	studentSees := func(id string) bool { return levelAs(t, server, ada, level).has(id) }
	listed := func() []string {
		var ids []string
		b.run("read the list", chromedp.Evaluate(`[...document.querySelectorAll('#problems > li')].map((li) => li.dataset.id)`, &ids))
		return ids
	}
	note := func(text string) {
		b.waitFor(fmt.Sprintf("the note %q", text), fmt.Sprintf(`document.querySelector('#outlineNote').textContent.includes(%s)`, jsString(text)), 30*time.Second)
	}
	alert := func(text string) {
		b.waitFor(fmt.Sprintf("the alert %q", text), fmt.Sprintf(`!document.querySelector('#alert').hidden && document.querySelector('#alert').textContent.includes(%s)`, jsString(text)), 30*time.Second)
	}
	// outline opens the form of tools' action (new or rename), fills it
	// and saves it, and waits for the note saying it is done.
	outline := func(tools, action, done string, fill ...chromedp.Action) {
		b.run(action, chromedp.Click(tools+" [data-action="+action+"]"))
		b.waitFor("the form", `!document.querySelector('#outlineForm').hidden`, 5*time.Second)
		b.run("fill the form", append(fill, chromedp.Click(`#outlineForm button[name=save]`))...)
		note(done)
	}
	levels := func() (options []string, chosen string) {
		b.run("read the levels", chromedp.Evaluate(`[...document.querySelectorAll('#level option')].map((o) => o.value)`, &options), chromedp.Value(`#level`, &chosen))
		return options, chosen
	}
	item := func(id, action string) string {
		return fmt.Sprintf(`#problems li[data-id=%q] [data-action=%s]`, id, action)
	}

	b.signIn("eve", "/")
	b.waitFor("the editor's list", `document.querySelector('#problems li[data-id=hello-world] .itemTools') !== null`, 20*time.Second)
	for _, sel := range []string{"#ageGroupTools", "#levelTools", "#newProblem"} {
		b.waitFor(sel, fmt.Sprintf(`!document.querySelector(%q).hidden`, sel), time.Second)
	}

	// A new problem: the empty form, its id suggested from the title; an
	// id already taken is refused as the form shows refusals.
	const id = "count-to-n"
	b.run("new problem", chromedp.Click(`#newProblem`))
	b.waitFor("the empty form", `!document.querySelector('#editing').hidden && !document.querySelector('#idField').hidden && document.querySelector('#editingTitle').textContent === 'New problem'`, 10*time.Second)
	var levelID, suggested string
	b.run("type a title",
		chromedp.SendKeys(`#editing input[name=title]`, "Count to N"),
		chromedp.Value(`#editing input[name=levelId]`, &levelID),
		chromedp.Value(`#editing input[name=id]`, &suggested),
	)
	if levelID != level || suggested != id {
		t.Errorf("the new problem's level is %q and its suggested id %q; want %q and %q", levelID, suggested, level, id)
	}
	b.run("fill the problem",
		chromedp.SetValue(`#editing textarea[name=statement]`, "Read a number `n` and print the numbers from 1 to `n`, one a line."),
		chromedp.SetValue(`#sampleTests textarea[name=input]`, "3\n"),
		chromedp.SetValue(`#sampleTests textarea[name=output]`, "1\n2\n3\n"),
		chromedp.SetValue(`#hiddenTests textarea[name=input]`, "5\n"),
		chromedp.SetValue(`#hiddenTests textarea[name=output]`, "1\n2\n3\n4\n5\n"),
		chromedp.SetValue(`#hiddenTests input[name=hint]`, "Does your loop reach n itself?"),
		chromedp.SetValue(`#editing input[name=id]`, "hello-world"),
	)
	b.setCodeIn("#starterCode", "n = int(input())\n# print the numbers from 1 to n\n")
	b.setCodeIn("#referenceSolution", "n = int(input())\nfor i in range(1, n + 1):\n    print(i)\n")
	var draft bool
	b.run("read the draft box", chromedp.Evaluate(`document.querySelector('#editing input[name=draft]').checked`, &draft))
	if !draft {
		t.Error("a new problem does not start as a draft")
	}
	b.save("refused")
	if got := b.text("#saveResult"); !strings.Contains(got, `problem "hello-world" already exists`) {
		t.Errorf("creating a problem with a taken id: %q", got)
	}
	b.screenshot("new")

	// Saved as a draft: in the editor's list, marked; not for students.
	b.run("choose another id", chromedp.SetValue(`#editing input[name=id]`, id))
	b.save("saved")
	if got := b.text("#saveResult"); !strings.Contains(got, "Created: version 1. It is a draft") {
		t.Errorf("after creating the draft the form reads %q", got)
	}
	b.waitFor("the draft in the list", fmt.Sprintf(`document.querySelector('#problems li[data-id=%q] .draft') !== null`, id), 10*time.Second)
	if got, want := listed(), []string{"hello-world", "echo-three", "favorite-animal", id}; !slices.Equal(got, want) {
		t.Errorf("the editor's list: %q, want %q", got, want)
	}
	if studentSees(id) {
		t.Error("a student sees the draft")
	}
	b.run("back to the problem", chromedp.Click(`#closeEditing`))
	b.waitFor("the draft's view", `document.querySelector('#problemTitle').textContent === 'Count to N' && document.querySelector('#editNote').textContent.includes('draft')`, 10*time.Second)
	b.screenshot("draft")

	// A reload opens the draft again (for an editor), and from there it
	// is published: the sandbox check passes, and students see it.
	b.run("reload", chromedp.Reload())
	b.waitFor("the draft after a reload", `document.querySelector('#problemTitle').textContent === 'Count to N' && document.querySelector('#editNote').textContent.includes('draft') && document.querySelector('#submit').disabled`, 20*time.Second)
	b.run("open the form", chromedp.Click(`#edit`))
	b.waitFor("the form", `!document.querySelector('#editing').hidden && document.querySelector('#idField').hidden`, 10*time.Second)
	b.run("untick draft", chromedp.Click(`#editing input[name=draft]`))
	b.save("saved")
	if got := b.text("#saveResult"); !strings.Contains(got, "passed the sandbox check") {
		t.Errorf("after publishing the form reads %q", got)
	}
	b.waitFor("the published problem in the list", fmt.Sprintf(`document.querySelector('#problems li[data-id=%q]') !== null && document.querySelector('#problems .draft') === null`, id), 10*time.Second)
	if !studentSees(id) {
		t.Error("a student does not see the published problem")
	}
	b.run("back to the problem", chromedp.Click(`#closeEditing`))

	// Moved up, for students too.
	b.run("move it up", chromedp.Click(item(id, "up")))
	note("Moved the problem “Count to N” up.")
	if got, want := listed(), []string{"hello-world", "echo-three", id, "favorite-animal"}; !slices.Equal(got, want) {
		t.Errorf("after moving it up the list is %q, want %q", got, want)
	}
	var order []string
	for _, p := range levelAs(t, server, ada, level).Problems {
		order = append(order, p.ID)
	}
	if want := []string{"hello-world", "echo-three", id, "favorite-animal"}; !slices.Equal(order, want) {
		t.Errorf("after moving it up students see %q, want %q", order, want)
	}
	b.waitFor("focus on its move button", fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, item(id, "up")), 5*time.Second)

	// Someone else changes it: the delete, at the version listed, is a
	// CONFLICT; the list is read again, and the next delete goes through.
	theirs := problemForEditing(t, server, ned, id)
	theirs.Title = "Count to N (Ned's)"
	mustUpdateProblem(t, server, ned, theirs)
	b.run("delete it", chromedp.Click(item(id, "delete")))
	alert("was changed by someone else")
	b.waitFor("their title in the list", fmt.Sprintf(`document.querySelector('#problems li[data-id=%q] button').textContent === %q`, id, theirs.Title), 10*time.Second)
	if !studentSees(id) {
		t.Error("a refused delete deleted the problem")
	}
	b.screenshot("conflict")
	b.run("delete it again", chromedp.Click(item(id, "delete")))
	note("Deleted the problem “Count to N (Ned's)”.")
	if got, want := listed(), []string{"hello-world", "echo-three", "favorite-animal"}; !slices.Equal(got, want) {
		t.Errorf("after deleting it the list is %q, want %q", got, want)
	}
	if studentSees(id) {
		t.Error("a student still sees the deleted problem")
	}
	if got := b.text("#problemTitle"); got != "Choose a problem" {
		t.Errorf("after deleting the open problem the view shows %q", got)
	}
	b.mu.Lock()
	dialogs := slices.Clone(b.dialogs)
	b.mu.Unlock()
	if len(dialogs) != 2 || !strings.Contains(dialogs[1], "Delete the problem “Count to N (Ned's)”?") {
		t.Errorf("the confirmations asked %q", dialogs)
	}

	// Levels: a level with problems is not deleted, for the API's reason;
	// a new one is created, renamed, moved up and deleted.
	b.run("delete the level", chromedp.Click(`#levelTools [data-action=delete]`))
	alert(`Could not delete the level “Hello, Python”: level "explorers-1" still has 3 problems`)
	outline("#levelTools", "new", "Created the level “Patterns”.",
		chromedp.SendKeys(`#outlineForm input[name=title]`, "Patterns"), // the id follows: patterns
		chromedp.SetValue(`#outlineForm textarea[name=description]`, "Stars and stripes with loops."),
	)
	b.waitFor("the new level chosen", `document.querySelector('#level').value === 'patterns' && document.querySelector('#problems').children.length === 0`, 10*time.Second)
	outline("#levelTools", "rename", "Saved the level “Patterns and shapes”.",
		chromedp.WaitNotVisible(`#outlineIdField`), // an id stays
		chromedp.SetValue(`#outlineForm input[name=title]`, "Patterns and shapes"),
	)
	var students struct {
		Levels []struct{ ID, Title, Description string }
	}
	graphqlAs(t, server, ada, `{ levels(ageGroup: "7-9") { id title description } }`, nil, &students)
	if n := len(students.Levels); n == 0 || students.Levels[n-1].ID != "patterns" || students.Levels[n-1].Title != "Patterns and shapes" || students.Levels[n-1].Description != "Stars and stripes with loops." {
		t.Errorf("students see the levels %+v; want patterns, renamed, last", students.Levels)
	}
	b.run("move it up", chromedp.Click(`#levelTools [data-action=up]`))
	note("Moved the level “Patterns and shapes” up.")
	options, chosen := levels()
	if n := len(options); n < 2 || options[n-2] != "patterns" || chosen != "patterns" {
		t.Errorf("after moving it up the levels are %q, with %q chosen", options, chosen)
	}
	b.screenshot("level")
	b.run("delete it", chromedp.Click(`#levelTools [data-action=delete]`))
	note("Deleted the level “Patterns and shapes”.")
	if options, _ := levels(); slices.Contains(options, "patterns") {
		t.Errorf("after deleting it the levels are %q", options)
	}

	// Age groups: created (last), moved up, deleted.
	outline("#ageGroupTools", "new", "Created the age group “Seniors”.",
		chromedp.SendKeys(`#outlineForm input[name=title]`, "Seniors"),
		chromedp.SetValue(`#outlineForm input[name=id]`, "16-18"),
	)
	b.run("move it up", chromedp.Click(`#ageGroupTools [data-action=up]`))
	note("Moved the age group “Seniors (16-18)” up.")
	var groups struct{ AgeGroups []struct{ Slug string } }
	graphqlAs(t, server, ada, `{ ageGroups { slug } }`, nil, &groups)
	var slugs []string
	for _, g := range groups.AgeGroups {
		slugs = append(slugs, g.Slug)
	}
	if want := []string{"7-9", "10-12", "16-18", "13-15"}; !slices.Equal(slugs, want) {
		t.Errorf("after moving the age group up students see %q, want %q", slugs, want)
	}
	b.run("delete it", chromedp.Click(`#ageGroupTools [data-action=delete]`))
	note("Deleted the age group “Seniors (16-18)”.")

	// A student: none of these controls.
	b.signOut()
	b.signIn("ada", "/")
	b.waitFor("the student's list", `document.querySelector('#problems li[data-id=hello-world]') !== null`, 20*time.Second)
	var shown []string
	b.run("look for editors' controls", chromedp.Evaluate(`['#ageGroupTools', '#levelTools', '#newProblem', '#outlineForm', '#edit', '#problems .itemTools', '#problems .draft']
		.filter((s) => [...document.querySelectorAll(s)].some((e) => e.offsetParent !== null))`, &shown))
	if len(shown) > 0 {
		t.Errorf("a student sees the editors' controls %q", shown)
	}
	b.screenshot("student")
}
