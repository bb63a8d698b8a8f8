// Small DOM helpers shared by the pack's web extensions (a plain module: it registers nothing).

export function css(element, style) {
  Object.assign(element.style, style);
  return element;
}

export function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}
