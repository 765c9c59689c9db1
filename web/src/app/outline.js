// The editors' controls over the curriculum's outline, in the problem
// list's column: age groups and levels created, renamed, moved up or down
// and deleted; a level's problems moved up or down and deleted, and a new
// one started in the edit form. main.js shows them to editors and admins
// only, and the API refuses anyone else. Every change names the version
// the lists were read at; what the API refuses (a CONFLICT: someone
// changed it since; a level that still has problems) is shown as the API
// words it, and after a CONFLICT the lists are read again. See docs/web.md.
import { explain, gql } from './api.js';
import { $, el, showAlert, suggestId } from './dom.js';

const UPDATE_AGE_GROUP = `mutation UpdateAgeGroup($input: AgeGroupInput!) { updateAgeGroup(input: $input) { slug } }`;
// ids: every child of the parent, in the new order; version: the parent's.
const REORDER_LEVELS = `mutation ReorderLevels($parent: String!, $version: Int!, $ids: [ID!]!) {
  reorderLevels(ageGroup: $parent, version: $version, ids: $ids) { slug }
}`;
const REORDER_PROBLEMS = `mutation ReorderProblems($parent: ID!, $version: Int!, $ids: [ID!]!) {
  reorderProblems(levelId: $parent, version: $version, ids: $ids) { id }
}`;

// What main.js shows: every age group and the chosen one, its levels and
// the chosen one, and that level's problems as editors see them (drafts
// included), each with its version.
let state = { ageGroups: [], group: null, levels: [], level: null, problems: [] };
let hooks = { reload: async () => {}, deleted: () => {}, newProblem: () => {} };
let busy = false; // a change is under way: the controls wait for it

const ageGroupInput = (g) => ({ slug: g.slug, title: g.title, description: g.description, position: g.position, version: g.version });

// The three kinds of thing in the outline, and how each is changed.
const kinds = {
  ageGroup: {
    name: 'age group',
    idName: 'Slug (the ages, such as 10-12)',
    key: (g) => g.slug,
    label: (g) => `${g.title} (${g.slug})`,
    list: () => state.ageGroups,
    create: (v) =>
      gql(`mutation CreateAgeGroup($input: AgeGroupInput!) { createAgeGroup(input: $input) { slug } }`, {
        input: { slug: v.id, title: v.title, description: v.description, position: Math.max(0, ...state.ageGroups.map((g) => g.position)) + 1 },
      }),
    update: (g, v) => gql(UPDATE_AGE_GROUP, { input: { ...ageGroupInput(g), title: v.title, description: v.description } }),
    remove: (g) => gql(`mutation DeleteAgeGroup($slug: String!, $version: Int!) { deleteAgeGroup(slug: $slug, version: $version) }`, { slug: g.slug, version: g.version }),
    // Age groups are shown by position: a move numbers them anew, each
    // one whose position changes written at the version read.
    reorder: async (slugs) => {
      for (const [i, slug] of slugs.entries()) {
        const g = state.ageGroups.find((x) => x.slug === slug);
        if (g.position !== i + 1) await gql(UPDATE_AGE_GROUP, { input: { ...ageGroupInput(g), position: i + 1 } });
      }
    },
    select: (key) => ({ group: key }),
  },
  level: {
    name: 'level',
    idName: 'Id (lower-case letters, digits, - and _)',
    key: (l) => l.id,
    label: (l) => l.title,
    list: () => state.levels,
    // group: the age group the form was opened in (another may be chosen since).
    create: (v, group) =>
      gql(`mutation CreateLevel($input: LevelInput!) { createLevel(input: $input) { id } }`, {
        input: { id: v.id, ageGroup: group.slug, title: v.title, description: v.description },
      }),
    update: (l, v, group) =>
      gql(`mutation UpdateLevel($input: LevelInput!) { updateLevel(input: $input) { id } }`, {
        input: { id: l.id, ageGroup: group.slug, title: v.title, description: v.description, version: l.version },
      }),
    remove: (l) => gql(`mutation DeleteLevel($id: ID!, $version: Int!) { deleteLevel(id: $id, version: $version) }`, { id: l.id, version: l.version }),
    reorder: (ids) => gql(REORDER_LEVELS, { parent: state.group.slug, version: state.group.version, ids }),
    select: (key, group) => ({ group: group.slug, level: key }),
  },
  problem: {
    name: 'problem',
    key: (p) => p.id,
    label: (p) => p.title,
    list: () => state.problems,
    remove: (p) => gql(`mutation DeleteProblem($id: ID!, $version: Int!) { deleteProblem(id: $id, version: $version) }`, { id: p.id, version: p.version }),
    reorder: (ids) => gql(REORDER_PROBLEMS, { parent: state.level.id, version: state.level.version, ids }),
    select: () => ({}),
  },
};

/**
 * reload(select) reads the lists again and shows them, choosing
 * select.group and select.level where given (and still there);
 * deleted(id) is told of a deleted problem; newProblem(levelId) opens the
 * edit form for a new problem.
 */
export function initOutline(h) {
  hooks = { ...hooks, ...h };
}

/** Shows the controls for the lists main.js shows (s, as state above) to an editor, or hides them. */
export function renderOutline(editor, s) {
  state = s;
  for (const kind of ['ageGroup', 'level']) {
    const tools = $(`${kind}Tools`);
    tools.hidden = !editor;
    const list = kinds[kind].list();
    const i = list.indexOf(kind === 'level' ? s.level : s.group);
    for (const b of tools.querySelectorAll('button')) {
      b.disabled = { new: kind === 'level' && !s.group, up: i <= 0, down: i < 0 || i === list.length - 1 }[b.dataset.action] ?? i < 0;
    }
  }
  $('newProblem').hidden = !editor || !s.level;
  if (!editor) {
    form.hidden = true;
    note('');
  }
}

/** A small button for action, showing text, named label (its tooltip too); onclick gets the button. */
function actionButton(action, textContent, label, onclick, disabled = false) {
  const b = el('button', { type: 'button', className: 'small', textContent, title: label, disabled, onclick: () => onclick(b) });
  b.dataset.action = action;
  b.setAttribute('aria-label', label);
  return b;
}

/** The ↑, ↓ and ✕ buttons of problem i of the level's list, for an editor. */
export function problemTools(i) {
  const p = state.problems[i];
  return el(
    'span',
    { className: 'itemTools' },
    actionButton('up', '↑', `Move up: ${p.title}`, () => move('problem', p, -1), i === 0),
    actionButton('down', '↓', `Move down: ${p.title}`, () => move('problem', p, 1), i === state.problems.length - 1),
    actionButton('delete', '✕', `Delete: ${p.title}`, () => remove('problem', p)),
  );
}

function note(text) {
  $('outlineNote').textContent = text;
}

/**
 * Runs one change, mutate: doing says what it was, for a refusal; done,
 * what it did. Then the lists are read again, choosing select, and focus()
 * is focused (the lists' buttons are new). Returns whether the change was
 * made.
 */
async function change({ doing, done, mutate, select = {}, focus = () => null }) {
  if (busy) return false;
  busy = true;
  showAlert('');
  note('');
  let made = true;
  try {
    await mutate();
  } catch (err) {
    made = false;
    // Nothing changed. If the versions read are stale, the lists are
    // read again, so that the next try names the current ones.
    const conflict = err.code === 'CONFLICT';
    showAlert(`Could not ${doing}: ${explain(err)}${conflict ? '. The lists now show what is stored: try again if you still want to.' : ''}`);
    select = conflict ? {} : null;
  }
  try {
    if (select) {
      await hooks.reload(select);
      focus()?.focus();
    }
  } catch (err) {
    showAlert(explain(err));
  } finally {
    // Said once the lists show it.
    if (made) note(done);
    busy = false;
  }
  return made;
}

/** The button for action in container, or, if it is disabled now (a move to the end), the other move. */
function actionIn(container, action) {
  const b = container?.querySelector(`[data-action=${action}]`);
  return b?.disabled ? container.querySelector(`[data-action=${action === 'up' ? 'down' : 'up'}]`) : b;
}

const itemOf = (kind, key) => (kind === 'problem' ? $('problems').querySelector(`li[data-id="${CSS.escape(key)}"]`) : $(`${kind}Tools`));

function move(kind, item, by) {
  const k = kinds[kind];
  const keys = k.list().map(k.key);
  const i = keys.indexOf(k.key(item));
  if (i + by < 0 || i + by >= keys.length) return;
  [keys[i], keys[i + by]] = [keys[i + by], keys[i]];
  const where = by < 0 ? 'up' : 'down';
  change({
    doing: `move the ${k.name} “${k.label(item)}” ${where}`,
    done: `Moved the ${k.name} “${k.label(item)}” ${where}.`,
    mutate: () => k.reorder(keys),
    select: k.select(k.key(item), state.group),
    focus: () => actionIn(itemOf(kind, k.key(item)), where),
  });
}

function remove(kind, item) {
  const k = kinds[kind];
  const warning = kind === 'problem' ? ' Students will no longer see it; their submissions stay.' : '';
  if (!confirm(`Delete the ${k.name} “${k.label(item)}”?${warning}`)) return;
  change({
    doing: `delete the ${k.name} “${k.label(item)}”`,
    done: `Deleted the ${k.name} “${k.label(item)}”.`,
    mutate: async () => {
      await k.remove(item);
      if (kind === 'problem') hooks.deleted(item.id);
    },
    focus: () => (kind === 'problem' ? $('newProblem') : $(kind)),
  });
}

// ---- the age groups' and levels' controls, and their form ----

const form = $('outlineForm');
const fields = form.elements;
let editing = null; // what the form is for: { kind, item (null: a new one), group (the chosen age group), opener }

suggestId(fields.title, fields.id);

function openForm(kind, item, opener) {
  const k = kinds[kind];
  editing = { kind, item, group: state.group, opener };
  $('outlineTitle').textContent = item ? `Rename the ${k.name} “${k.label(item)}”` : `New ${k.name}`;
  $('outlineIdName').textContent = k.idName;
  $('outlineIdField').hidden = fields.id.disabled = !!item;
  fields.id.value = item ? k.key(item) : '';
  fields.title.value = item?.title ?? '';
  fields.description.value = item?.description ?? '';
  $(`${kind}Tools`).after(form); // beneath the controls that opened it
  form.hidden = false;
  fields.title.focus();
}

function closeForm() {
  form.hidden = true;
  editing?.opener.focus();
  editing = null;
}

fields.cancel.onclick = closeForm;
form.addEventListener('keydown', (e) => e.key === 'Escape' && closeForm());

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const { kind, item, group } = editing;
  const k = kinds[kind];
  const v = { id: fields.id.value.trim(), title: fields.title.value.trim(), description: fields.description.value };
  const made = await change({
    doing: item ? `rename the ${k.name} “${k.label(item)}”` : `create the ${k.name}`,
    done: item ? `Saved the ${k.name} “${v.title}”.` : `Created the ${k.name} “${v.title}”.`,
    mutate: () => (item ? k.update(item, v, group) : k.create(v, group)),
    select: k.select(item ? k.key(item) : v.id, group),
  });
  if (made) closeForm();
});

// The buttons under each list: they act on the age group or level chosen.
for (const kind of ['ageGroup', 'level']) {
  const { name } = kinds[kind];
  const current = () => (kind === 'level' ? state.level : state.group);
  $(`${kind}Tools`).append(
    actionButton('new', 'New', `New ${name}`, (b) => openForm(kind, null, b)),
    actionButton('rename', 'Rename', `Rename ${name}`, (b) => openForm(kind, current(), b)),
    actionButton('up', '↑', `Move ${name} up`, () => move(kind, current(), -1)),
    actionButton('down', '↓', `Move ${name} down`, () => move(kind, current(), 1)),
    actionButton('delete', 'Delete', `Delete ${name}`, () => remove(kind, current())),
  );
}

$('newProblem').onclick = () => hooks.newProblem(state.level.id);
