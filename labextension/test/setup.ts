/**
 * jsdom lacks a few browser APIs that Lumino and JupyterLab's web components
 * touch at import time. Only their existence matters; no test relies on them.
 */
if (typeof window !== 'undefined') {
  const g = globalThis as Record<string, unknown>;
  g.DragEvent ??= class DragEvent extends MouseEvent {};
  // Dialog buttons are React widgets that render in an idle callback.
  g.requestIdleCallback ??= (callback: () => void): number =>
    window.setTimeout(callback, 0);
  g.cancelIdleCallback ??= (handle: number): void => window.clearTimeout(handle);
  window.matchMedia ??= (query: string): MediaQueryList =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false
    }) as MediaQueryList;
}
