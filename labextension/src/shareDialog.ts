/**
 * Body of the share dialog.
 */
import { Widget } from '@lumino/widgets';

/** DOM ids the e2e tests and users' custom CSS can rely on. */
export const SHARE_BUTTON_ID = 'imagine-share-button';
export const SHARE_INPUT_ID = 'imagine-share-link';
export const SHARE_BADGE_ID = 'imagine-share-badge';

/** What a launch link adds to the dialog: a Markdown badge and warnings. */
export interface IShareExtras {
  badge?: string;
  warnings?: string[];
}

/** A read-only field with its Copy button and a polite "Copied" announcement. */
function copyRow(
  id: string,
  value: string,
  label: string,
  copy: (text: string) => void
): HTMLElement {
  const row = document.createElement('div');
  row.className = 'imagine-ShareLinkBody-row';

  const input = document.createElement('input');
  input.id = id;
  input.className = 'jp-mod-styled imagine-ShareLinkBody-input';
  input.type = 'text';
  input.readOnly = true;
  input.value = value;
  input.setAttribute('aria-label', label);
  // Selecting on focus makes a manual Ctrl+C work when the clipboard API is blocked.
  input.addEventListener('focus', () => input.select());

  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'jp-Button jp-mod-styled jp-mod-accept imagine-ShareLinkBody-copy';
  button.textContent = 'Copy';
  button.setAttribute('aria-label', `Copy the ${label.toLowerCase()}`);

  // Announced by screen readers without moving focus.
  const feedback = document.createElement('span');
  feedback.className = 'imagine-ShareLinkBody-feedback';
  feedback.setAttribute('role', 'status');
  feedback.setAttribute('aria-live', 'polite');

  button.addEventListener('click', () => {
    copy(value);
    input.select();
    feedback.textContent = 'Copied';
  });
  row.append(input, button);
  const wrap = document.createElement('div');
  wrap.append(row, feedback);
  return wrap;
}

/** Body of the share dialog: the link in a read-only field and a Copy button. */
export class ShareLinkBody extends Widget {
  /**
   * `copy` puts text on the clipboard (JupyterLab's `Clipboard.copyToSystem`
   * in the app); passing it in keeps this widget free of apputils for tests.
   */
  constructor(
    readonly link: string,
    description: string,
    copy: (text: string) => void,
    extras: IShareExtras = {}
  ) {
    super();
    this.addClass('imagine-ShareLinkBody');

    const warnings = extras.warnings ?? [];
    if (warnings.length) {
      const list = document.createElement('ul');
      list.className = 'imagine-ShareLinkBody-warnings';
      list.setAttribute('role', 'alert');
      for (const warning of warnings) {
        const item = document.createElement('li');
        item.textContent = warning;
        list.append(item);
      }
      this.node.append(list);
    }

    const text = document.createElement('p');
    text.className = 'imagine-ShareLinkBody-description';
    text.textContent = description;
    this.node.append(text, copyRow(SHARE_INPUT_ID, link, 'Share link', copy));

    if (extras.badge) {
      const heading = document.createElement('p');
      heading.className = 'imagine-ShareLinkBody-description';
      heading.textContent = 'As a badge for a README (Markdown):';
      this.node.append(heading, copyRow(SHARE_BADGE_ID, extras.badge, 'Badge', copy));
    }
  }

  /** The field itself, for focusing when the dialog opens. */
  get input(): HTMLInputElement {
    return this.node.querySelector(`#${SHARE_INPUT_ID}`) as HTMLInputElement;
  }
}
