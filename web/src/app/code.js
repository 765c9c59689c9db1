// CodeMirror 6 editors for Python: the child's editor and the editors'
// starter code and reference solution share one setup.
import { defaultKeymap, history as undoHistory, historyKeymap, indentWithTab } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';

/**
 * A Python editor in parent, labelled by the element labelledBy. keys are
 * extra key bindings; onChange is called with the text after each change.
 * Tab indents: Esc, then Tab, leaves the editor.
 */
export function codeEditor(parent, labelledBy, { keys = [], onChange } = {}) {
  const extensions = [
    lineNumbers(),
    undoHistory(),
    drawSelection(),
    highlightActiveLine(),
    indentOnInput(),
    bracketMatching(),
    syntaxHighlighting(defaultHighlightStyle),
    python(),
    keymap.of([...keys, indentWithTab, ...defaultKeymap, ...historyKeymap]),
    EditorView.contentAttributes.of({ 'aria-labelledby': labelledBy }),
  ];
  if (onChange) extensions.push(EditorView.updateListener.of((u) => u.docChanged && onChange(u.state.doc.toString())));
  return new EditorView({ parent, state: EditorState.create({ extensions }) });
}

export const getText = (view) => view.state.doc.toString();

/** Replaces an editor's whole text. */
export function setText(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}
