// Tiny DOM helpers.  Text always goes in as text nodes; only `html` (sanitised by the server)
// is ever inserted as markup, and only where a caller asks for it explicitly.

/** Create an element with attributes (`class`, `dataset`, booleans, strings) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') {
      for (const [key, data] of Object.entries(value)) {
        if (data !== null && data !== undefined) node.dataset[key] = data;
      }
    }
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A span only screen readers see. */
export function hiddenText(text) {
  return el('span', { class: 'visually-hidden' }, text);
}
