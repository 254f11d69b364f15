/**
 * Status bar item rendering a GpuStatusModel.
 */
import { Widget } from '@lumino/widgets';

import { GpuStatusModel } from './gpu';
import { formatStatus, formatTooltip } from './gpuFormat';

/** DOM id of the status bar item. */
export const GPU_STATUS_ID = 'imagine-gpu-status';

export interface IGpuStatusOptions {
  /** What a click, Enter or Space does (open the GPU panel); none: text only. */
  onActivate?: () => void;
}

/** Status item: utilization and memory per GPU or MIG instance. */
export class GpuStatusWidget extends Widget {
  constructor(
    readonly model: GpuStatusModel,
    options: IGpuStatusOptions = {}
  ) {
    super();
    this.id = GPU_STATUS_ID;
    this.addClass('imagine-GpuStatus');
    const onActivate = options.onActivate;
    if (onActivate) {
      // A status bar item is a <div>; make it a keyboard-reachable button.
      this._activatable = true;
      this.addClass('imagine-mod-activatable');
      this.node.tabIndex = 0;
      this.node.setAttribute('role', 'button');
      this.node.addEventListener('click', () => onActivate());
      this.node.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault(); // no page scroll on Space
          onActivate();
        }
      });
    }
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
    const text = formatStatus(data);
    this._text.textContent = text;
    if (this._activatable) {
      this.node.setAttribute('aria-label', `${text || 'GPU'}. Open the GPU panel`);
    }
    this._icon.textContent = warning ? '⚠' : '';
    this.node.title = formatTooltip(data, error);
    this.toggleClass('imagine-mod-warning', warning);
    // Stale numbers are still shown after a failed poll, but dimmed.
    this.toggleClass('imagine-mod-stale', error !== null);
    // Hide the node too, for shells without a status bar that honours isActive.
    this.node.hidden = !this.model.available;
  }

  private _activatable = false;
  private readonly _icon = document.createElement('span');
  private readonly _text = document.createElement('span');
}
