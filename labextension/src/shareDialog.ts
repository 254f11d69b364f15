/**
 * Body of the share dialog.
 */
import { Widget } from '@lumino/widgets';

/** DOM ids the e2e tests and users' custom CSS can rely on. */
export const SHARE_BUTTON_ID = 'imagine-share-button';
export const SHARE_INPUT_ID = 'imagine-share-link';

/** Body of the share dialog: the link in a read-only field and a Copy button. */
export class ShareLinkBody extends Widget {
  /**
   * `copy` puts text on the clipboard (JupyterLab's `Clipboard.copyToSystem`
   * in the app); passing it in keeps this widget free of apputils for tests.
   */
  constructor(
    readonly link: string,
    description: string,
    private readonly copy: (text: string) => void
  ) {
    super();
    this.addClass('imagine-ShareLinkBody');

    const text = document.createElement('p');
    text.className = 'imagine-ShareLinkBody-description';
    text.textContent = description;

    const row = document.createElement('div');
    row.className = 'imagine-ShareLinkBody-row';

    const input = document.createElement('input');
    input.id = SHARE_INPUT_ID;
    input.className = 'jp-mod-styled imagine-ShareLinkBody-input';
    input.type = 'text';
    input.readOnly = true;
    input.value = link;
    input.setAttribute('aria-label', 'Share link');
    // Selecting on focus makes a manual Ctrl+C work when the clipboard API is blocked.
    input.addEventListener('focus', () => input.select());

    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-Button jp-mod-styled jp-mod-accept imagine-ShareLinkBody-copy';
    button.textContent = 'Copy';
    button.setAttribute('aria-label', 'Copy the share link');

    // Announced by screen readers without moving focus.
    const feedback = document.createElement('span');
    feedback.className = 'imagine-ShareLinkBody-feedback';
    feedback.setAttribute('role', 'status');
    feedback.setAttribute('aria-live', 'polite');

    button.addEventListener('click', () => {
      this.copy(this.link);
      input.select();
      feedback.textContent = 'Copied';
    });

    row.append(input, button);
    this.node.append(text, row, feedback);
  }

  /** The field itself, for focusing when the dialog opens. */
  get input(): HTMLInputElement {
    return this.node.querySelector('input') as HTMLInputElement;
  }
}
