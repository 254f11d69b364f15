/**
 * Status bar countdown to the culler's stop, as a button that opens the
 * warning's details. It ticks once a second only while a warning is pending;
 * the tick is a local timer, it never talks to the server.
 */
import { Widget } from '@lumino/widgets';

import { CullWarningModel, clockTime, formatCountdown } from './cullWarning';
import { IScheduler } from './gpu';

/** DOM id of the countdown button. */
export const COUNTDOWN_ID = 'imagine-cull-countdown';

export interface ICountdownOptions {
  /** What a click or Enter does (open the details). */
  onActivate: () => void;
  scheduler?: IScheduler;
  timeFormat?: (epochSeconds: number) => string;
}

const defaultScheduler: IScheduler = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: handle =>
    globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>)
};

export class CullCountdownWidget extends Widget {
  constructor(
    readonly model: CullWarningModel,
    options: ICountdownOptions
  ) {
    super({ node: document.createElement('button') });
    const button = this.node as HTMLButtonElement;
    button.type = 'button';
    this.id = COUNTDOWN_ID;
    this.addClass('imagine-CullCountdown');
    // A timer role is not announced on every tick (its aria-live is "off").
    this._text.setAttribute('role', 'timer');
    this.node.append(this._text);
    button.addEventListener('click', options.onActivate);
    this._scheduler = options.scheduler ?? defaultScheduler;
    this._timeFormat = options.timeFormat ?? clockTime;
    model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopTicking();
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const warning = this.model.warning;
    const left = this.model.secondsLeft();
    this.node.hidden = warning === null;
    if (warning === null || left === null) {
      this._stopTicking();
      this._text.textContent = '';
      this.node.removeAttribute('aria-label');
      this.node.title = '';
      return;
    }
    const countdown = formatCountdown(left);
    const when = this._timeFormat(warning.stop_at);
    this._text.textContent = `GPU idle: stops in ${countdown}`;
    this.node.setAttribute(
      'aria-label',
      `The GPU is idle: this server stops at ${when}, in ${countdown}. Show options.`
    );
    this.node.title = `${warning.reason}\nStops at ${when}. Click for options.`;
    this.toggleClass('imagine-mod-urgent', left < 300);
    if (this._timer === null) {
      this._timer = this._scheduler.setTimeout(() => {
        this._timer = null;
        this._render();
      }, 1000);
    }
  }

  private _stopTicking(): void {
    if (this._timer !== null) {
      this._scheduler.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private readonly _text = document.createElement('span');
  private readonly _scheduler: IScheduler;
  private readonly _timeFormat: (epochSeconds: number) => string;
  private _timer: unknown = null;
}
