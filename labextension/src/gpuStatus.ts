/**
 * Status bar item rendering a GpuStatusModel.
 */
import { Widget } from '@lumino/widgets';

import { GpuStatusModel } from './gpu';
import { formatStatus, formatTooltip } from './gpuFormat';

/** DOM id of the status bar item. */
export const GPU_STATUS_ID = 'imagine-gpu-status';

/** Text-only status item: utilization and memory per GPU or MIG instance. */
export class GpuStatusWidget extends Widget {
  constructor(readonly model: GpuStatusModel) {
    super();
    this.id = GPU_STATUS_ID;
    this.addClass('imagine-GpuStatus');
    this._icon.className = 'imagine-GpuStatus-icon';
    // The text already says "GPU"; the warning mark is decoration only.
    this._icon.setAttribute('aria-hidden', 'true');
    this._text.className = 'imagine-GpuStatus-text';
    this.node.append(this._icon, this._text);
    model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const { data, error } = this.model;
    const warning = !!(data?.available && data.warning);
    this._text.textContent = formatStatus(data);
    this._icon.textContent = warning ? '⚠' : '';
    this.node.title = formatTooltip(data, error);
    this.toggleClass('imagine-mod-warning', warning);
    // Stale numbers are still shown after a failed poll, but dimmed.
    this.toggleClass('imagine-mod-stale', error !== null);
    // Hide the node too, for shells without a status bar that honours isActive.
    this.node.hidden = !this.model.available;
  }

  private readonly _icon = document.createElement('span');
  private readonly _text = document.createElement('span');
}
