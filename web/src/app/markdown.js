// A small Markdown renderer for problem statements that builds DOM nodes
// and never parses HTML: every character of the source ends up as text, so
// nothing in a statement can run script or load anything. It knows what
// the curriculum uses: paragraphs, headings, fenced code, lists, tables,
// `code`, **bold** and *italic*.

/** Renders markdown into a DocumentFragment. */
export function renderMarkdown(source) {
  const out = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
    } else if (line.startsWith('```')) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) code.push(lines[i]);
      i++; // the closing fence
      const pre = el('pre');
      pre.append(el('code', code.join('\n')));
      out.append(pre);
    } else if (/^#{1,6} /.test(line)) {
      const level = Math.min(line.indexOf(' ') + 2, 6); // the page's own h1 and h2 come first
      out.append(inline(el(`h${level}`), line.slice(line.indexOf(' ') + 1)));
      i++;
    } else if (line.startsWith('|')) {
      const rows = [];
      for (; i < lines.length && lines[i].startsWith('|'); i++) rows.push(lines[i]);
      out.append(table(rows));
    } else if (listItem(line)) {
      const ordered = /^\d/.test(line.trimStart());
      const list = el(ordered ? 'ol' : 'ul');
      for (; i < lines.length && listItem(lines[i]); i++) {
        list.append(inline(el('li'), lines[i].replace(/^\s*([-*]|\d+\.)\s+/, '')));
      }
      out.append(list);
    } else {
      const text = [];
      for (; i < lines.length && lines[i].trim() !== '' && !startsBlock(lines[i]); i++) text.push(lines[i].trim());
      out.append(inline(el('p'), text.join(' ')));
    }
  }
  return out;
}

const listItem = (line) => /^\s*([-*]|\d+\.)\s+/.test(line);
const startsBlock = (line) => line.startsWith('```') || line.startsWith('|') || /^#{1,6} /.test(line) || listItem(line);

function table(rows) {
  const cells = (row) => row.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
  const t = el('table');
  const head = el('tr');
  for (const c of cells(rows[0])) head.append(inline(el('th'), c));
  t.append(el('thead', head));
  const body = el('tbody');
  // rows[1] is the |---|---| separator.
  for (const row of rows.slice(2)) {
    const tr = el('tr');
    for (const c of cells(row)) tr.append(inline(el('td'), c));
    body.append(tr);
  }
  t.append(body);
  return t;
}

/** Appends text with `code`, **bold** and *italic* to parent. */
function inline(parent, text) {
  const pattern = /`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*)\*/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    parent.append(text.slice(last, m.index));
    if (m[1] !== undefined) parent.append(el('code', m[1]));
    else if (m[2] !== undefined) parent.append(inline(el('strong'), m[2]));
    else parent.append(inline(el('em'), m[3]));
    last = m.index + m[0].length;
  }
  parent.append(text.slice(last));
  return parent;
}

function el(tag, child) {
  const node = document.createElement(tag);
  if (child !== undefined) node.append(child);
  return node;
}
