/**
 * Left sidebar "Data" panel: the mounts with their health, an add-mount form
 * with presets, and unmount / remount / remove / open-in-file-browser.
 * Plain DOM with native controls, so keyboard and screen readers work as is.
 */
import { InputDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { button, el } from './dom';
import {
  IMount,
  IPreset,
  MountsModel,
  PRESETS,
  STATE_LABELS,
  browserPath,
  hiddenFields,
  messageOf,
  mountRequest,
  panelWording
} from './mounts';

export const DATA_PANEL_ID = 'imagine-data-panel';

export interface IDataPanelOptions {
  model: MountsModel;
  /** Show a folder (server-root relative) in the file browser. */
  open: (path: string) => void;
}

export class DataPanel extends Widget {
  constructor(options: IDataPanelOptions) {
    super();
    this.id = DATA_PANEL_ID;
    this.addClass('imagine-Panel');
    this.title.caption = 'Remote data';
    this._model = options.model;
    this._open = options.open;
    const heading = el('h2', { className: 'imagine-Panel-title', id: `${DATA_PANEL_ID}-title` }, 'Data');
    const toolbar = el(
      'div',
      { className: 'imagine-Panel-toolbar' },
      button('Add storage', () => this._toggleForm(true)),
      button('Refresh', () => void this._model.refresh(), 'Refresh the list of mounts')
    );
    this._list.setAttribute('aria-labelledby', heading.id);
    this._status.setAttribute('role', 'status');
    this._status.setAttribute('aria-live', 'polite');
    this._alert.setAttribute('role', 'alert');
    // progress and outcome sit above the list, visible whether or not the form is open
    this.node.append(heading, toolbar, this._progressBar, this._status, this._alert,
      this._listError, this._list, this._form);
    this._buildForm();
    this._model.changed.connect(this._render, this);
    this._render();
  }

  protected onAfterShow(): void {
    void this._model.refresh();
  }

  protected onAfterAttach(): void {
    if (this.isVisible) {
      void this._model.refresh();
    }
  }

  private _render(): void {
    this._listError.textContent = this._model.error;
    this._listError.hidden = !this._model.error;
    const items = this._model.mounts.map(mount => this._item(mount));
    if (items.length === 0) {
      items.push(el('li', { className: 'imagine-Empty' }, 'No storage mounted yet.'));
    }
    this._list.replaceChildren(...items);
  }

  private _item(mount: IMount): HTMLLIElement {
    const state = el(
      'span',
      { className: `imagine-State imagine-State-${mount.state}` },
      STATE_LABELS[mount.state] ?? mount.state
    );
    const actions = el('div', { className: 'imagine-Mount-actions' });
    const name = mount.name;
    if (mount.state === 'mounted') {
      actions.append(
        button('Open', () => this._open(browserPath(mount.mountpoint)), `Open ${name} in the file browser`)
      );
    }
    if (['mounted', 'mounting', 'unhealthy'].includes(mount.state)) {
      actions.append(button('Unmount', () => void this._act(() => this._model.unmount(name)), `Unmount ${name}`));
    }
    if (mount.state === 'unmounted') {
      actions.append(button('Mount', () => void this._remount(mount), `Mount ${name}`));
    } else if (['unhealthy', 'error', 'credentials-required'].includes(mount.state)) {
      actions.append(button('Mount again', () => void this._remount(mount), `Mount ${name} again`));
    }
    if (!mount.predefined) {
      actions.append(button('Remove', () => void this._act(() => this._model.remove(name)), `Remove ${name}`));
    }
    const where = mount.url ? `${mount.backend} · ${mount.url}` : mount.backend;
    const item = el(
      'li',
      { className: 'imagine-Mount' },
      el('div', { className: 'imagine-Mount-head' }, el('strong', {}, name), state),
      el('div', { className: 'imagine-Mount-where' }, where)
    );
    item.dataset.mount = name;
    if (mount.message) {
      item.append(el('div', { className: 'imagine-Mount-message' }, panelWording(mount.message)));
    }
    item.append(actions);
    return item;
  }

  private async _act(action: () => Promise<void>): Promise<void> {
    try {
      await action();
      this._alert.textContent = '';
    } catch (error) {
      this._alert.textContent = messageOf(error);
    }
  }

  private async _remount(mount: IMount): Promise<void> {
    let secret: Record<string, string> = {};
    if (mount.needs_secret && !mount.has_secret) {
      const key =
        mount.backend === 's3' ? 'secret_access_key' : mount.backend === 'onedata' ? 'token' : 'password';
      const answer = await InputDialog.getPassword({ title: `Password for ${mount.name}` });
      if (!answer.button.accept || !answer.value) {
        return;
      }
      secret = { [key]: answer.value };
    }
    await this._act(async () => {
      await this._model.remount(mount.name, secret, m => this._progress(m));
      this._status.textContent = '';
    });
  }

  private _progress(mount: IMount): void {
    const text =
      mount.state === 'mounting'
        ? `Mounting ${mount.name}… ${mount.message}`.trim()
        : `${mount.name}: ${STATE_LABELS[mount.state]}`;
    this._status.textContent = text;
    this._progressBar.hidden = mount.state !== 'mounting';
  }

  private _buildForm(): void {
    const form = this._form;
    form.className = 'imagine-MountForm';
    form.setAttribute('aria-label', 'Add storage');
    form.hidden = true;
    const select = el('select', { id: 'imagine-mount-preset', className: 'jp-mod-styled' });
    for (const preset of PRESETS) {
      select.append(el('option', { value: preset.id }, preset.label));
    }
    select.addEventListener('change', () => this._showPreset(select.value));
    const submit = el('button', { type: 'submit', className: 'jp-Button jp-mod-accept imagine-Button' }, 'Mount');
    const cancel = button('Cancel', () => this._toggleForm(false));
    this._progressBar.hidden = true;
    form.append(
      el('h3', { className: 'imagine-Panel-subtitle' }, 'Add storage'),
      el('label', { htmlFor: select.id }, 'Storage type'),
      select,
      this._description,
      this._fields,
      el('div', { className: 'imagine-Panel-toolbar' }, submit, cancel),
      this._formAlert
    );
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this._submit();
    });
    this._showPreset(PRESETS[0].id);
  }

  private _toggleForm(show: boolean): void {
    this._form.hidden = !show;
    this._formAlert.textContent = '';
    if (show) {
      this._form.querySelector<HTMLSelectElement>('select')?.focus();
    }
  }

  private _showPreset(id: string): void {
    this._preset = PRESETS.find(p => p.id === id) ?? PRESETS[0];
    this._description.textContent = this._preset.description;
    this._description.className = 'imagine-MountForm-description';
    const rows = this._preset.fields.map(field => {
      const id = `imagine-mount-field-${field.key}`;
      let input: HTMLInputElement | HTMLSelectElement;
      if (field.type === 'select') {
        input = el('select', { id, name: field.key, className: 'jp-mod-styled' });
        for (const [value, label] of field.options ?? []) {
          input.append(el('option', { value }, label));
        }
        input.addEventListener('change', () => this._applyVisibility());
      } else {
        input = el('input', {
          id,
          name: field.key,
          type: field.type,
          required: !!field.required,
          placeholder: field.placeholder ?? '',
          className: field.type === 'checkbox' ? '' : 'jp-mod-styled',
          autocomplete: field.type === 'password' ? 'new-password' : 'off'
        });
      }
      const label = el('label', { htmlFor: id }, field.label);
      const row = el('div', { className: `imagine-Field imagine-Field-${field.type}` });
      row.dataset.field = field.key;
      if (field.type === 'checkbox') {
        row.append(input, label);
      } else {
        row.append(label, input);
      }
      if (field.help) {
        const help = el('div', { className: 'imagine-Field-help', id: `${id}-help` }, field.help);
        input.setAttribute('aria-describedby', help.id);
        row.append(help);
      }
      return row;
    });
    this._fields.replaceChildren(...rows);
    this._applyVisibility();
  }

  private _values(): Record<string, string | boolean> {
    const values: Record<string, string | boolean> = {};
    for (const input of this._fields.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) {
      values[input.name] =
        input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value;
    }
    return values;
  }

  private _applyVisibility(): void {
    const hidden = hiddenFields(this._values());
    for (const row of this._fields.querySelectorAll<HTMLElement>('.imagine-Field')) {
      const off = hidden.has(row.dataset.field ?? '');
      row.hidden = off;
      row.querySelectorAll('input').forEach(input => (input.disabled = off));
    }
  }

  /** Back to an empty form of the first preset, closed. */
  private _resetForm(): void {
    this._form.reset();
    const select = this._form.querySelector<HTMLSelectElement>('select');
    if (select) {
      select.value = PRESETS[0].id;
    }
    this._showPreset(PRESETS[0].id);
    this._toggleForm(false);
  }

  private async _submit(): Promise<void> {
    const body = mountRequest(this._preset, this._values());
    this._alert.textContent = '';
    this._formAlert.textContent = '';
    const submit = this._form.querySelector<HTMLButtonElement>('button[type=submit]');
    if (submit) {
      submit.disabled = true;
    }
    try {
      const mount = await this._model.add(body, m => this._progress(m));
      if (mount.state === 'mounted') {
        this._resetForm();
        this._status.textContent = `${mount.name} is mounted in ${browserPath(mount.mountpoint)}.`;
      } else {
        // the reason is shown once, on the mount's entry in the list
        this._status.textContent = '';
        this._formAlert.textContent = `${mount.name} could not be mounted: see its entry above.`;
      }
    } catch (error) {
      this._status.textContent = '';
      this._formAlert.textContent = panelWording(messageOf(error));
    } finally {
      this._progressBar.hidden = true;
      if (submit) {
        submit.disabled = false;
      }
    }
  }

  private readonly _model: MountsModel;
  private readonly _open: (path: string) => void;
  private readonly _list = el('ul', { className: 'imagine-MountList' });
  private readonly _listError = el('div', { className: 'imagine-Error' });
  private readonly _form = el('form');
  private readonly _fields = el('div', { className: 'imagine-MountForm-fields' });
  private readonly _description = el('p');
  private readonly _progressBar = el('progress', { className: 'imagine-Progress' });
  private readonly _status = el('div', { className: 'imagine-Status' });
  private readonly _alert = el('div', { className: 'imagine-Error', id: 'imagine-mount-error' });
  private readonly _formAlert = el('div', { className: 'imagine-Error', id: 'imagine-mount-form-error' });
  private _preset: IPreset = PRESETS[0];
}
