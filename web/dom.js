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

const omitted = new WeakMap(); // a node's serialized data -> the widget indices already taken out of it

/** Leaves the DOM widget `widgetName` (not a node input) out of the node's saved widgets_values: the 2024
 *  frontend saves every widget's value by position, and loads them back by position. Several such widgets
 *  on one node each take out their own slot, in whatever order their wrappers run. */
export function omitFromSavedValues(nodeType, widgetName) {
  const onSerialize = nodeType.prototype.onSerialize;
  nodeType.prototype.onSerialize = function (data) {
    const result = onSerialize?.apply(this, arguments);
    const widgets = this.widgets ?? [];
    const index = widgets.findIndex((w) => w.name === widgetName);
    const values = data?.widgets_values;
    if (index < 0 || !Array.isArray(values)) return result;
    const done = omitted.get(data) ?? [];
    if (values.length !== widgets.length - done.length) return result; // saved some other way: leave it
    values.splice(index - done.filter((i) => i < index).length, 1);
    omitted.set(data, [...done, index]);
    return result;
  };
}
