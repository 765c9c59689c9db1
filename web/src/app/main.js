// The coderunner editor: choose a problem, write Python, run it with live
// output and input(), and submit it to be graded test by test. It is the
// reference client of the API (docs/web.md), written in plain DOM code.
import { APIError, explain, gql, setToken, signedIn, subscribe } from './api.js';
import { codeEditor, getText, setText } from './code.js';
import { $, el, showAlert } from './dom.js';
import { closeEditing, editingOpen, editingProblem, initEditing, openEditing, openNewProblem } from './editing.js';
import { renderMarkdown } from './markdown.js';
import { initOutline, problemTools, renderOutline } from './outline.js';
import './style.css';

const ME = `{ me { name role quota { runsToday runsPerDay submitsToday submitsPerDay } } }`;
const AGE_GROUPS = `{ ageGroups { slug title description position version } }`;
const LEVELS = `query Levels($ageGroup: String!) {
  levels(ageGroup: $ageGroup) { id title description version myProgress { solved total } problems { id title myProgress { solved } } }
}`;
const PROBLEM = `query Problem($id: ID!) {
  problem(id: $id) { id title statement starterCode level { id ageGroup { slug } } }
}`;
// Editors' reads: a level's problems with its drafts, and a draft.
const PROBLEMS_FOR_EDITING = `query ProblemsForEditing($levelId: ID!) { problemsForEditing(levelId: $levelId) { id title draft version } }`;
const DRAFT = `query Draft($id: ID!) { problemForEditing(id: $id) { id title statement starterCode draft levelId } }`;
const LEVEL_OF = `query LevelOf($id: ID!) { level(id: $id) { id ageGroup { slug } } }`;
const RUN = `mutation Run($code: String!) { run(input: { language: "python", code: $code }) { id } }`;
const RUN_EVENTS = `subscription RunEvents($id: ID!, $after: Int!) {
  runEvents(runId: $id, afterSeq: $after) { seq type text run { status exitCode wallMs } }
}`;
const SUBMIT = `mutation Submit($problemId: ID!, $code: String!) { submit(problemId: $problemId, code: $code) { id total } }`;
const SUBMISSION_EVENTS = `subscription SubmissionEvents($id: ID!, $after: Int!) {
  submissionEvents(submissionId: $id, afterSeq: $after) {
    seq type
    test { index sample verdict wallMs hint input expectedOutput actualOutput stderr diff }
    submission { verdict passed total }
  }
}`;

let me = null; // the signed-in user, or null for a guest
let ageGroups = []; // every age group
let ageGroup = null; // the chosen age group's slug
let levels = []; // its levels
let editable = []; // for editors: the chosen level's problems, drafts included
let problem = null; // the open problem (draft: true for a draft an editor opened)
let live = null; // the run being followed: { id, seq, problemId, started, chunks, stop }
let editor;

// ---- account ----

async function loadMe() {
  ({ me } = await gql(ME));
  renderAccount();
}

function renderAccount() {
  const account = $('account');
  account.replaceChildren();
  const button = (text, onclick) => el('button', { className: 'link', textContent: text, onclick });
  if (me) {
    account.append(`Signed in as ${me.name} · `, button('Sign out', signOut));
    const q = me.quota;
    $('quota').textContent = `Today: ${q.runsToday} of ${q.runsPerDay} runs, ${q.submitsToday} of ${q.submitsPerDay} submissions.`;
  } else {
    account.append('Coding as a guest · ', button('Sign in', showSignIn));
    $('quota').textContent = 'Sign in to submit your code and keep your progress.';
  }
  showControls();
}

// ---- editing (editors and admins; the API refuses anyone else) ----

const canEdit = () => me?.role === 'EDITOR' || me?.role === 'ADMIN';

/** Shows the controls the user may use: editors' only to editors; Submit for a published problem. */
function showControls() {
  $('edit').hidden = !(canEdit() && problem);
  $('submit').disabled = !me || !problem || !!problem.draft;
  renderOutline(canEdit(), {
    ageGroups,
    group: ageGroups.find((g) => g.slug === ageGroup) ?? null,
    levels,
    level: levels.find((l) => l.id === $('level').value) ?? null,
    problems: editable,
  });
}

let opener = null; // what opened the edit form, focused again when it closes

/** Opens the edit form with open(), in place of the problem view. */
async function openForm(open) {
  showAlert('');
  if (editingOpen() && !closeEditing()) return;
  const from = document.activeElement;
  try {
    await open();
    opener = from;
    $('problem').hidden = true;
  } catch (err) {
    showAlert(explain(err));
  }
}

$('edit').onclick = () => openForm(() => openEditing(problem.id));

initEditing({
  onClose: () => {
    $('problem').hidden = false;
    (opener?.isConnected && opener.offsetParent ? opener : $('edit')).focus();
  },
  onSaved: (saved) => refreshProblem(saved).catch((err) => showAlert(explain(err))),
});

initOutline({
  reload: reloadOutline,
  newProblem: (levelId) => openForm(() => openNewProblem(levelId)),
  deleted: (id) => {
    if (editingProblem() === id) closeEditing(true);
    if (problem?.id === id) clearProblem();
  },
});

/** Shows a saved (or created) problem as students see it now, or as a draft. */
async function refreshProblem(saved) {
  const shown = problem?.id;
  // The server drops its cached copy as it saves; should this one come
  // back stale, ask again a moment later.
  let fresh;
  for (let i = 0; i < 10; i++) {
    fresh = await fetchProblem(saved.id);
    if (fresh.title === saved.title && fresh.statement === saved.statement && !!fresh.draft === saved.draft) break;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  if (problem?.id !== shown) return; // another problem was opened meanwhile
  await showProblem(fresh, shown !== saved.id);
  showEditNote(
    saved.draft
      ? `Saved version ${saved.version} as a draft: students do not see this problem.`
      : `Saved version ${saved.version}: this is what students see now.`,
  );
}

function showEditNote(text) {
  $('editNote').textContent = text;
  $('editNote').hidden = !text;
}

// ---- signing in and out ----

function showSignIn() {
  localStorage.removeItem('coderunner.guest');
  $('workspace').hidden = true;
  $('signin').hidden = false;
  $('account').replaceChildren();
  $('signin').elements.name.focus();
}

async function signOut() {
  if (!closeEditing()) return;
  try {
    await gql('mutation { signOut }');
  } catch {
    // The session is forgotten here either way.
  }
  setToken(null);
  me = null;
  clearProblem(); // the next person may not see what this one had open
  $('signin').reset(); // the next person starts from an empty form
  showSignIn();
}

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  const action = e.submitter?.name === 'signUp' ? 'signUp' : 'signIn';
  const { name, password } = e.target.elements;
  try {
    const data = await gql(`mutation Account($name: String!, $password: String!) { ${action}(name: $name, password: $password) { token } }`, {
      name: name.value,
      password: password.value,
    });
    setToken(data[action].token);
    password.value = '';
    showAlert('');
    await loadMe();
    await openWorkspace();
  } catch (err) {
    showAlert(explain(err));
  }
});

$('signin').elements.guest.addEventListener('click', () => {
  localStorage.setItem('coderunner.guest', '1');
  showAlert('');
  openWorkspace().catch((err) => showAlert(explain(err)));
});

// ---- choosing a problem ----

async function openWorkspace() {
  $('signin').hidden = true;
  $('workspace').hidden = false;
  renderAccount();
  await loadAgeGroups();
  const wanted = new URLSearchParams(location.hash.slice(1)).get('problem');
  try {
    if (wanted) await openProblem(wanted);
  } catch (err) {
    if (err.code !== 'NOT_FOUND') throw err; // deleted, or a draft, since the link was made
  }
  if (!problem) await chooseAgeGroup(ageGroups[0]?.slug);
  const saved = JSON.parse(sessionStorage.getItem('coderunner.run'));
  if (saved && saved.problemId === problem?.id) follow(saved);
}

async function loadAgeGroups() {
  ({ ageGroups } = await gql(AGE_GROUPS));
  $('ageGroup').replaceChildren(...ageGroups.map((g) => new Option(`${g.title} (${g.slug})`, g.slug)));
}

/** Reads the age groups, levels and problems again (after a change), choosing group and level if they are there. */
async function reloadOutline({ group = ageGroup, level = $('level').value } = {}) {
  await loadAgeGroups();
  await chooseAgeGroup(ageGroups.some((g) => g.slug === group) ? group : ageGroups[0]?.slug, level);
}

async function chooseAgeGroup(slug, levelId) {
  ageGroup = slug;
  $('ageGroup').value = slug;
  levels = slug ? (await gql(LEVELS, { ageGroup: slug })).levels : [];
  $('level').replaceChildren(...levels.map((l) => new Option(l.title, l.id)));
  await chooseLevel(levels.some((l) => l.id === levelId) ? levelId : levels[0]?.id);
}

let listing = 0; // the latest chooseLevel: an earlier one's answer is dropped

async function chooseLevel(id) {
  const call = ++listing;
  $('level').value = id ?? '';
  const level = levels.find((l) => l.id === id);
  let items = level?.problems ?? [];
  if (level && canEdit()) {
    const { problemsForEditing } = await gql(PROBLEMS_FOR_EDITING, { levelId: id });
    if (call !== listing) return;
    items = problemsForEditing;
  }
  editable = canEdit() ? items : [];
  $('levelDescription').textContent = level?.description ?? '';
  const p = level?.myProgress;
  $('levelProgress').textContent = p ? `${p.solved} of ${p.total} solved` : '';
  showControls();
  const solved = new Set((level?.problems ?? []).filter((x) => x.myProgress?.solved).map((x) => x.id));
  $('problems').replaceChildren(...items.map((item, i) => problemItem(item, i, solved.has(item.id))));
}

/** A problem in the list: its title to open it; for editors, whether it is a draft and the buttons to move and delete it. */
function problemItem(item, i, solved) {
  const open = el('button', { textContent: item.title, onclick: () => openProblem(item.id).catch((err) => showAlert(explain(err))) });
  if (item.id === problem?.id) open.setAttribute('aria-current', 'true');
  const li = el('li', {}, open);
  li.dataset.id = item.id;
  if (item.draft) li.append(el('span', { className: 'draft', textContent: 'draft' }));
  if (solved) {
    const tick = el('span', { className: 'tick', textContent: ' ✓', title: 'solved' });
    tick.setAttribute('aria-label', 'solved');
    li.append(tick);
  }
  if (canEdit()) li.append(problemTools(i));
  return li;
}

$('ageGroup').onchange = (e) => chooseAgeGroup(e.target.value).catch((err) => showAlert(explain(err)));
$('level').onchange = (e) => chooseLevel(e.target.value).catch((err) => showAlert(explain(err)));

/** Problem id as students see it or, for an editor, a draft (draft: true) as editors see it. */
async function fetchProblem(id) {
  try {
    return (await gql(PROBLEM, { id })).problem;
  } catch (err) {
    if (err.code !== 'NOT_FOUND' || !canEdit()) throw err;
  }
  const { problemForEditing: p } = await gql(DRAFT, { id });
  const { level } = await gql(LEVEL_OF, { id: p.levelId });
  return { ...p, level };
}

async function openProblem(id) {
  if (editingOpen() && !closeEditing()) return;
  await showProblem(await fetchProblem(id), true);
}

/**
 * Shows problem p (as fetchProblem gives it) with its level's list. A
 * problem opened anew starts with its code and no output or results; one
 * shown again after a save keeps them, and its lists are read again.
 */
async function showProblem(p, anew) {
  if (anew) stopFollowing();
  problem = p;
  history.replaceState(null, '', `#problem=${encodeURIComponent(p.id)}`);
  const { level } = p;
  if (!anew || level.ageGroup.slug !== ageGroup) await chooseAgeGroup(level.ageGroup.slug, level.id);
  else await chooseLevel(level.id);
  $('problemTitle').textContent = p.title;
  $('statement').replaceChildren(renderMarkdown(p.statement));
  showEditNote(p.draft ? 'A draft: students do not see this problem. Edit it and untick Draft to publish it.' : '');
  showControls();
  if (anew) startAfresh(localStorage.getItem(codeKey()) ?? p.starterCode);
}

/** Shows no problem (the open one was deleted, or its reader signed out). */
function clearProblem() {
  stopFollowing();
  problem = null;
  history.replaceState(null, '', location.pathname + location.search);
  $('problemTitle').textContent = 'Choose a problem';
  $('statement').replaceChildren();
  showEditNote('');
  startAfresh('');
  $('problems').querySelector('[aria-current]')?.removeAttribute('aria-current');
  showControls();
}

/** Puts code in the editor, with no output or results yet. */
function startAfresh(code) {
  setText(editor, code);
  $('output').replaceChildren();
  $('runStatus').textContent = '';
  $('resultsTitle').hidden = true;
  $('verdict').textContent = '';
  $('tests').replaceChildren();
}

const codeKey = () => `coderunner.code.${problem.id}`;

// ---- the editor ----

// Ctrl+Enter runs.
editor = codeEditor($('editor'), 'editorLabel', {
  keys: [{ key: 'Mod-Enter', run: () => (startRun(), true) }],
  onChange: (code) => problem && localStorage.setItem(codeKey(), code),
});

// ---- running ----

function setRunning(running) {
  $('run').disabled = running;
  $('stop').disabled = !running;
  $('input').hidden = !running;
}

/** Stops following the live run: it goes on, and a reload of its problem picks it up again. */
function stopFollowing() {
  live?.stop();
  live = null;
  setRunning(false);
}

/** Shows a piece of output: STDOUT, STDERR, or TYPED (what the child typed). */
function showChunk(kind, text) {
  const span = document.createElement('span');
  if (kind !== 'STDOUT') span.className = kind === 'STDERR' ? 'stderr' : 'typed';
  span.textContent = text;
  $('output').append(span);
  $('output').scrollTop = $('output').scrollHeight;
}

function addChunk(kind, text) {
  live.chunks.push([kind, text]);
  showChunk(kind, text);
}

// Kept in sessionStorage so that a reload resumes the run where it was
// (afterSeq) with what it had shown.
const saveLive = () => {
  const { stop, ...saved } = live;
  sessionStorage.setItem('coderunner.run', JSON.stringify(saved));
};

async function startRun() {
  if (!problem || live) return;
  showAlert('');
  $('output').replaceChildren();
  $('runStatus').textContent = 'Starting…';
  setRunning(true);
  try {
    const { run } = await gql(RUN, { code: getText(editor) });
    follow({ id: run.id, seq: 0, problemId: problem.id, started: false, chunks: [] });
  } catch (err) {
    setRunning(false);
    showAlert(explain(err));
  }
}

function follow(saved) {
  live = saved;
  setRunning(true);
  $('output').replaceChildren();
  for (const [kind, text] of live.chunks) showChunk(kind, text);
  $('runStatus').textContent = live.started ? 'Running…' : 'Waiting for a free computer…';
  const run = live;
  run.stop = subscribe(RUN_EVENTS, { id: run.id, after: run.seq }, {
    onData: ({ runEvents: e }) => {
      if (run !== live || e.seq <= run.seq) return; // a reconnect repeats what came before
      run.seq = e.seq;
      if (e.type === 'STARTED') {
        // A second STARTED: another computer runs the program again.
        if (run.started) {
          run.chunks = [];
          $('output').replaceChildren();
        }
        run.started = true;
        $('runStatus').textContent = 'Running…';
        $('inputLine').focus();
      } else if (e.type === 'STDOUT' || e.type === 'STDERR') {
        addChunk(e.type, e.text);
      } else if (e.type === 'FINISHED') {
        finishRun(e.run);
        return;
      }
      saveLive();
    },
    onError: (err) => {
      if (run !== live) return;
      showAlert(explain(err));
      live = null;
      setRunning(false);
      // A lost connection (the page closing, too) leaves the run to be
      // resumed by a reload; an error the API answered ends it.
      if (err instanceof APIError) sessionStorage.removeItem('coderunner.run');
    },
    onDone: () => {},
  });
}

const runOutcomes = {
  COMPLETED: 'Finished',
  RUNTIME_ERROR: 'Your program stopped with an error',
  TIME_LIMIT_EXCEEDED: 'Your program took too long',
  MEMORY_LIMIT_EXCEEDED: 'Your program used too much memory',
  OUTPUT_LIMIT_EXCEEDED: 'Your program printed too much',
  CANCELLED: 'Stopped',
  INTERNAL_ERROR: 'Something went wrong on our side: please run again',
};

function finishRun(run) {
  live = null;
  sessionStorage.removeItem('coderunner.run');
  setRunning(false);
  if (run) $('runStatus').textContent = `${runOutcomes[run.status] ?? run.status} (${run.status}, exit code ${run.exitCode}, ${run.wallMs} ms)`;
  if (me) loadMe();
}

$('run').onclick = startRun;

$('stop').onclick = async () => {
  if (!live) return;
  try {
    await gql('mutation Stop($id: ID!) { cancelRun(id: $id) { status } }', { id: live.id });
  } catch (err) {
    showAlert(explain(err));
  }
};

$('input').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!live) return;
  const text = $('inputLine').value + '\n';
  $('inputLine').value = '';
  addChunk('TYPED', text);
  saveLive();
  try {
    await gql('mutation Input($id: ID!, $text: String!) { sendInput(runId: $id, text: $text) }', { id: live.id, text });
  } catch (err) {
    showAlert(explain(err));
  }
});

// ---- submitting ----

$('submit').onclick = async () => {
  if (!problem || !me) return;
  showAlert('');
  $('submit').disabled = true;
  $('resultsTitle').hidden = false;
  $('verdict').textContent = 'Checking your code…';
  $('tests').replaceChildren();
  try {
    const { submit } = await gql(SUBMIT, { problemId: problem.id, code: getText(editor) });
    const rows = Array.from({ length: submit.total }, (_, i) => {
      const li = document.createElement('li');
      li.textContent = `Test ${i + 1}: waiting…`;
      return li;
    });
    $('tests').replaceChildren(...rows);
    followSubmission(submit.id, rows);
  } catch (err) {
    $('submit').disabled = false;
    $('verdict').textContent = '';
    showAlert(explain(err));
  }
};

function followSubmission(id, rows) {
  let seq = 0;
  subscribe(SUBMISSION_EVENTS, { id, after: 0 }, {
    onData: ({ submissionEvents: e }) => {
      if (e.seq <= seq) return;
      seq = e.seq;
      if (e.type === 'TEST_FINISHED' && rows[e.test.index]) showTest(rows[e.test.index], e.test);
      if (e.type === 'FINISHED') {
        const s = e.submission;
        $('verdict').textContent = `${s.verdict === 'ACCEPTED' ? 'Well done! ' : ''}${s.verdict}: ${s.passed} of ${s.total} tests passed.`;
        $('submit').disabled = false;
        loadMe();
        if (problem) chooseAgeGroup(ageGroup, problem.level.id); // the ticks
      }
    },
    onError: (err) => {
      showAlert(explain(err));
      $('submit').disabled = false;
    },
    onDone: () => {},
  });
}

function showTest(li, t) {
  const passed = t.verdict === 'ACCEPTED';
  const mark = document.createElement('span');
  mark.className = passed ? 'pass' : 'fail';
  mark.textContent = passed ? '✓ ' : '✗ ';
  li.replaceChildren(mark, `Test ${t.index + 1} (${t.sample ? 'example' : 'hidden'}): ${t.verdict}, ${t.wallMs} ms`);
  li.dataset.verdict = t.verdict;
  if (passed) return;
  const details = (label, text) => {
    if (!text) return;
    const pre = document.createElement('pre');
    pre.textContent = text;
    li.append(Object.assign(document.createElement('div'), { textContent: label }), pre);
  };
  details('Input:', t.input);
  details('Expected output:', t.expectedOutput);
  details('Your output:', t.actualOutput);
  details('Differences:', t.diff);
  details('Errors:', t.stderr);
  if (t.hint) li.append(Object.assign(document.createElement('p'), { textContent: `Hint: ${t.hint}` }));
}

// ---- start ----

(async () => {
  try {
    if (signedIn()) {
      try {
        await loadMe();
      } catch (err) {
        if (err.code !== 'UNAUTHENTICATED') throw err;
        setToken(null); // expired or signed out elsewhere
      }
    }
    if (signedIn() || localStorage.getItem('coderunner.guest')) await openWorkspace();
    else showSignIn();
  } catch (err) {
    showAlert(explain(err));
  }
})();
