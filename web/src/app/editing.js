// The editors' form: a problem loaded from problemForEditing, every field
// of ProblemInput, saved with updateProblem at the version loaded; or a
// new problem, empty, saved with createProblem (and edited from then on).
// It shows what the save came to: the new version; the sandbox check's
// refusal, test by test with its diff (extensions.failures); or a
// CONFLICT, with someone else's version (extensions.current) to load
// without losing the editor's own text. See docs/web.md.
import { APIError, explain, gql } from './api.js';
import { codeEditor, getText, setText } from './code.js';
import { $, el, suggestId } from './dom.js';
import { renderMarkdown } from './markdown.js';

const FIELDS = `id levelId title statement starterCode
  sampleTests { input output hint } hiddenTests { input output hint }
  timeLimitMs memoryMb referenceSolution checker { kind tolerance } stopOnFirstFailure draft version`;
const LOAD = `query ProblemForEditing($id: ID!) { problemForEditing(id: $id) { ${FIELDS} } }`;
const UPDATE = `mutation UpdateProblem($input: ProblemInput!) { updateProblem(input: $input) { ${FIELDS} } }`;
const CREATE = `mutation CreateProblem($input: ProblemInput!) { createProblem(input: $input) { ${FIELDS} } }`;

// What each field of ProblemInput is called in words.
const NAMES = {
  id: 'id',
  title: 'title',
  levelId: 'level',
  statement: 'statement',
  starterCode: 'starter code',
  referenceSolution: 'reference solution',
  sampleTests: 'sample tests',
  hiddenTests: 'hidden tests',
  checker: 'checker',
  timeLimitMs: 'time limit',
  memoryMb: 'memory limit',
  stopOnFirstFailure: 'stop at the first failure',
  draft: 'draft',
};

const form = $('editing');
const fields = form.elements;
let base = null; // the problem as loaded or last saved, as a ProblemInput without its version
let version = 0; // the version a save names
let creating = false; // a new problem, not stored yet: saving creates it
let saving = false;
let hooks = { onSaved: () => {}, onClose: () => {} };

const saveKey = { key: 'Mod-s', run: () => (save(), true) };
const starter = codeEditor($('starterCode'), 'starterLabel', { keys: [saveKey] });
const reference = codeEditor($('referenceSolution'), 'referenceLabel', { keys: [saveKey] });

// ---- the form's contents ----

const tests = (list) => (list ?? []).map((t) => ({ input: t.input ?? '', output: t.output ?? '', hint: t.hint ?? '' }));

/** A problem (EditableProblem, or extensions.current) as a ProblemInput, without its version. */
function toInput(p) {
  return {
    id: p.id,
    levelId: p.levelId,
    title: p.title,
    statement: p.statement,
    starterCode: p.starterCode,
    sampleTests: tests(p.sampleTests),
    hiddenTests: tests(p.hiddenTests),
    timeLimitMs: p.timeLimitMs ?? 0,
    memoryMb: p.memoryMb ?? 0,
    referenceSolution: p.referenceSolution,
    checker: { kind: p.checker?.kind || 'lines', tolerance: p.checker?.tolerance ?? 0 },
    stopOnFirstFailure: !!p.stopOnFirstFailure,
    draft: !!p.draft,
  };
}

function fill(p) {
  for (const name of ['title', 'levelId', 'statement', 'timeLimitMs', 'memoryMb']) fields[name].value = p[name];
  fields.checkerKind.value = p.checker.kind;
  fields.tolerance.value = p.checker.tolerance;
  fields.stopOnFirstFailure.checked = p.stopOnFirstFailure;
  fields.draft.checked = p.draft;
  setText(starter, p.starterCode);
  setText(reference, p.referenceSolution);
  for (const kind of ['sample', 'hidden']) $(`${kind}Tests`).replaceChildren(...p[`${kind}Tests`].map((t) => testRow(kind, t)));
  renumber();
  preview();
}

/** What the form holds, as a ProblemInput without its version. */
function collect() {
  const rows = (kind) =>
    [...$(`${kind}Tests`).children].map((row) => ({
      input: row.querySelector('[name=input]').value,
      output: row.querySelector('[name=output]').value,
      hint: row.querySelector('[name=hint]').value,
    }));
  return {
    id: creating ? fields.id.value.trim() : base.id,
    levelId: fields.levelId.value.trim(),
    title: fields.title.value,
    statement: fields.statement.value,
    starterCode: getText(starter),
    sampleTests: rows('sample'),
    hiddenTests: rows('hidden'),
    timeLimitMs: Math.trunc(Number(fields.timeLimitMs.value)) || 0,
    memoryMb: Math.trunc(Number(fields.memoryMb.value)) || 0,
    referenceSolution: getText(reference),
    checker: { kind: fields.checkerKind.value, tolerance: Number(fields.tolerance.value) || 0 },
    stopOnFirstFailure: fields.stopOnFirstFailure.checked,
    draft: fields.draft.checked,
  };
}

/** The fields in which problems a and b (ProblemInputs) differ, in words. */
const differences = (a, b) => Object.keys(NAMES).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => NAMES[k]);

const dirty = () => base !== null && differences(base, collect()).length > 0;

// ---- tests: a row each, added and removed ----

function testRow(kind, t) {
  const area = (name, label, value) => el('label', {}, label, el('textarea', { name, value, rows: 2, spellcheck: false }));
  const remove = el('button', { type: 'button', className: 'remove', textContent: 'Remove' });
  const row = el(
    'fieldset',
    { className: 'testRow' },
    el('legend'),
    area('input', 'Input', t.input),
    area('output', 'Expected output', t.output),
    el('label', { className: 'hint' }, 'Hint (shown when it fails)', el('input', { name: 'hint', value: t.hint })),
    remove,
  );
  remove.onclick = () => {
    const next = row.nextElementSibling?.querySelector('textarea') ?? $(kind === 'sample' ? 'addSample' : 'addHidden');
    row.remove();
    renumber();
    next.focus();
  };
  return row;
}

function renumber() {
  for (const kind of ['sample', 'hidden']) {
    [...$(`${kind}Tests`).children].forEach((row, i) => {
      row.querySelector('legend').textContent = `${kind === 'sample' ? 'Sample' : 'Hidden'} test ${i + 1}`;
      row.querySelector('.remove').setAttribute('aria-label', `Remove ${kind} test ${i + 1}`);
    });
  }
}

for (const [kind, button] of [['sample', 'addSample'], ['hidden', 'addHidden']]) {
  $(button).onclick = () => {
    const row = testRow(kind, { input: '', output: '', hint: '' });
    $(`${kind}Tests`).append(row);
    renumber();
    row.querySelector('textarea').focus();
  };
}

// ---- the statement's preview, with the app's safe renderer ----

const preview = () => $('statementPreview').replaceChildren(renderMarkdown(fields.statement.value));
fields.statement.addEventListener('input', preview);

// ---- opening and closing ----

function setLoaded(p) {
  setCreating(false);
  base = toInput(p);
  version = p.version;
  $('editingVersion').textContent = `Problem ${p.id}, version ${p.version}${p.draft ? ' (a draft: students do not see it)' : ''}.`;
}

/** Shows the id field (a new problem's id is chosen once, when it is created) or hides it. */
function setCreating(on) {
  creating = on;
  $('idField').hidden = !on;
  fields.id.disabled = !on;
  $('editingTitle').textContent = on ? 'New problem' : 'Edit the problem';
  $('closeEditing').textContent = on ? 'Cancel' : 'Back to the problem';
}

suggestId(fields.title, fields.id);

export const editingOpen = () => !form.hidden;

/** The id of the stored problem the form edits, or null (closed, or a new problem). */
export const editingProblem = () => (form.hidden || creating ? null : base?.id ?? null);

/** Fills the form with base and shows it. */
function present() {
  fill(base);
  showResult();
  form.hidden = false;
  starter.requestMeasure();
  reference.requestMeasure();
  fields.title.focus();
}

/** Loads problem id into the form and shows it; throws an APIError. */
export async function openEditing(id) {
  const { problemForEditing: p } = await gql(LOAD, { id });
  setLoaded(p);
  present();
}

/**
 * Shows the form empty, for a new problem at the end of level levelId:
 * a draft until the editor unticks it, with a sample and a hidden test
 * to fill in.
 */
export function openNewProblem(levelId) {
  const blank = { input: '', output: '', hint: '' };
  base = toInput({ id: '', levelId, title: '', statement: '', starterCode: '', referenceSolution: '', sampleTests: [blank], hiddenTests: [blank], draft: true });
  version = 0;
  setCreating(true);
  fields.id.value = '';
  $('editingVersion').textContent = `A new problem, added at the end of level ${levelId}. It stays a draft, which students do not see, until you untick Draft and it passes the sandbox check.`;
  present();
}

/**
 * Hides the form. Unless force, asks first if it holds unsaved changes,
 * and returns false if the editor keeps it open.
 */
export function closeEditing(force = false) {
  if (form.hidden) return true;
  if (!force && dirty() && !confirm('Leave the form? Your unsaved changes will be lost.')) return false;
  form.hidden = true;
  base = null;
  hooks.onClose();
  return true;
}

/** onSaved(problem) is called after each save; onClose after the form hides. */
export function initEditing(h) {
  hooks = { ...hooks, ...h };
}

$('closeEditing').onclick = () => closeEditing();

// ---- saving ----

form.addEventListener('submit', (e) => {
  e.preventDefault();
  save();
});

// Ctrl+S saves from anywhere in the form (the code editors bind it too).
form.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 's') {
    e.preventDefault();
    save();
  }
});

/** Shows the save's outcome: className ('', 'saved', 'refused'), then its contents. */
function showResult(className = '', ...children) {
  $('saveResult').className = className;
  $('saveResult').replaceChildren(...children);
}

async function save() {
  if (saving || !base) return;
  const input = collect();
  saving = true;
  $('save').disabled = true;
  showResult('', el('p', { textContent: input.draft ? 'Saving the draft…' : 'Saving: checking the problem in the sandbox…' }));
  try {
    const created = creating;
    const data = await gql(created ? CREATE : UPDATE, { input: { ...input, version } });
    const p = data.createProblem ?? data.updateProblem;
    setLoaded(p);
    // The server fills in defaults (limits of 0); refill the form unless
    // the editor typed on while it saved.
    if (differences(input, collect()).length === 0) fill(base);
    showResult(
      'saved',
      el('p', {
        textContent: `${created ? 'Created' : 'Saved'}: version ${p.version}. ${
          p.draft ? 'It is a draft: students do not see it.' : 'It passed the sandbox check, and students see it now.'
        }`,
      }),
    );
    hooks.onSaved(p);
  } catch (err) {
    if (err instanceof APIError && err.code === 'CONFLICT' && err.extensions.current) showConflict(input, err.extensions.current);
    else if (err instanceof APIError && err.code === 'BAD_USER_INPUT') showRefusal(err);
    else showResult('refused', el('p', { textContent: `Not saved: ${explain(err)}` }));
  } finally {
    saving = false;
    $('save').disabled = false;
  }
}

/** pre blocks labelled, for the texts that are not empty. */
function details(pairs) {
  return pairs.filter(([, text]) => text).flatMap(([label, text]) => [el('div', { textContent: label }), el('pre', { textContent: text })]);
}

/** BAD_USER_INPUT: the sandbox check's failing tests, or what is invalid. */
function showRefusal(err) {
  const failures = err.extensions.failures;
  if (!failures?.length) {
    showResult('refused', el('h3', { textContent: 'Not saved: nothing was changed.' }), el('p', { textContent: err.message }));
    return;
  }
  const items = failures.map((f) => {
    const what = f.test
      ? `The ${f.program} fails ${f.test}: ${f.verdict}`
      : `The ${f.program} already passes every test: it must leave the child something to do.`;
    return el(
      'li',
      {},
      el('strong', { textContent: what }),
      ...details([
        ['Input:', f.input],
        ['Expected output:', f.expectedOutput],
        ['Its output:', f.actualOutput],
        ['Differences:', f.diff],
        ['Errors:', f.stderr],
      ]),
    );
  });
  showResult(
    'refused',
    el('h3', { textContent: 'Not saved: the sandbox check refused the problem, and nothing was changed.' }),
    el('p', { textContent: 'The reference solution must pass every test, and the starter code must not. Fix these and save again:' }),
    el('ol', { className: 'failures' }, ...items),
  );
}

/**
 * CONFLICT: someone saved since the form was loaded. The editor loads
 * their version (and may bring their own text back) or keeps their own
 * to save over it; nothing is replaced without a click.
 */
function showConflict(mine, current) {
  const theirs = toInput(current);
  const byThem = differences(base, theirs);
  const byMe = differences(base, mine);
  const button = (textContent, onclick) => el('button', { type: 'button', textContent, onclick });
  const loadTheirs = button('Load their version', () => {
    setLoaded(current);
    fill(base);
    showResult(
      'saved',
      el('p', { textContent: `Loaded version ${current.version}, as they saved it. Your edits are kept here until you save:` }),
      el(
        'div',
        { className: 'buttons' },
        button('Bring my edits back', () => {
          fill(mine); // at their version: saving now replaces theirs
          showResult('', el('p', { textContent: `Your edits are back. Saving replaces version ${current.version} with them.` }));
          fields.title.focus();
        }),
      ),
    );
    fields.title.focus();
  });
  const keepMine = button('Keep my edits', () => {
    setLoaded(current);
    showResult('', el('p', { textContent: `Your edits are kept. Saving replaces version ${current.version} with them.` }));
    $('save').focus();
  });
  showResult(
    'refused',
    el('h3', { textContent: `Not saved: someone else saved this problem (now version ${current.version}) since you opened it.` }),
    el('p', { textContent: `They changed: ${byThem.join(', ') || 'nothing the form shows'}.` }),
    el('p', { textContent: `You changed: ${byMe.join(', ') || 'nothing'}.` }),
    el('div', { className: 'buttons' }, loadTheirs, keepMine),
  );
  loadTheirs.focus();
}
