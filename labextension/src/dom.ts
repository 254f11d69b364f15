/**
 * Small DOM builders shared by the sidebar panels (plain elements with native
 * controls, so keyboard and screen readers work as is).
 */

/** An element with properties set and children appended. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** A JupyterLab-styled button calling `onClick`; `aria` labels it for screen readers. */
export function button(label: string, onClick: () => void, aria?: string): HTMLButtonElement {
  const node = el('button', { type: 'button', className: 'jp-Button imagine-Button' }, label);
  if (aria) {
    node.setAttribute('aria-label', aria);
  }
  node.addEventListener('click', onClick);
  return node;
}
