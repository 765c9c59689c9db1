// Small DOM helpers the app's modules share. Elements are made with
// createElement and given text with textContent: the app never parses HTML.

export const $ = (id) => document.getElementById(id);

/** el('p', { className: 'x' }, 'text', child): an element, never from HTML. */
export function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Shows message in the page's alert (role="alert"), or hides it for ''. */
export function showAlert(message) {
  $('alert').textContent = message;
  $('alert').hidden = !message;
}

/** An id the API accepts, from a title: "Add two numbers!" → "add-two-numbers". */
export const idFrom = (title) =>
  title
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');

/**
 * Fills idInput from titleInput as the title is typed, while idInput is
 * enabled and holds nothing or what was suggested last: an id the editor
 * typed is theirs.
 */
export function suggestId(titleInput, idInput) {
  let suggested = '';
  titleInput.addEventListener('input', () => {
    if (idInput.disabled || (idInput.value !== '' && idInput.value !== suggested)) return;
    idInput.value = suggested = idFrom(titleInput.value);
  });
}
