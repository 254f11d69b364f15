/**
 * Shows the culler's warning as a JupyterLab notification that follows the
 * model: one toast per warning, updated in place, withdrawn when the warning
 * goes away.
 */
import type { Notification } from '@jupyterlab/apputils';

import {
  CullWarningModel,
  KeepOutcome,
  WarningChange,
  canKeep,
  clockTime,
  notificationMessage
} from './cullWarning';

/** The part of `Notification` used here; injectable for tests. */
export interface INotifier {
  warning(message: string, options?: Notification.IOptions<never>): string;
  info(message: string, options?: Notification.IOptions<never>): string;
  error(message: string, options?: Notification.IOptions<never>): string;
  update(args: Notification.IUpdate<never>): boolean;
  dismiss(id?: string): void;
}

export interface ICullNotifierOptions {
  notifier: INotifier;
  /** Run "save and stop" (the toast closes). */
  saveAndStop: () => void;
  timeFormat?: (epochSeconds: number) => string;
}

export const KEEP_LABEL = 'Keep my GPU';
export const SAVE_AND_STOP_LABEL = 'Save and stop';

export class CullNotifier {
  constructor(
    readonly model: CullWarningModel,
    options: ICullNotifierOptions
  ) {
    this._notifier = options.notifier;
    this._saveAndStop = options.saveAndStop;
    this._timeFormat = options.timeFormat ?? clockTime;
    model.changed.connect(this._onChange, this);
  }

  /** Id of the toast on show, or null. */
  get id(): string | null {
    return this._id;
  }

  /** Show the warning again (e.g. from the status bar), if one is pending. */
  show(): void {
    this._onChange(this.model, 'new');
  }

  /** Send "keep" and report a refusal in its own notification. */
  async keep(): Promise<KeepOutcome> {
    const outcome = await this.model.keep();
    if (!outcome.ok) {
      this._notifier.error(outcome.message, { autoClose: false });
    }
    return outcome;
  }

  /** The server went away: a pending warning no longer means anything. */
  serverGone(): void {
    if (this._id !== null) {
      this._notifier.update({
        id: this._id,
        message: 'This server has stopped.',
        type: 'info',
        autoClose: false,
        actions: []
      });
      this._id = null;
    }
  }

  dispose(): void {
    this.model.changed.disconnect(this._onChange, this);
  }

  private _onChange(_: CullWarningModel, change: WarningChange): void {
    const warning = this.model.warning;
    if (change === 'cleared' || !warning) {
      if (this._id !== null) {
        this._notifier.dismiss(this._id);
        this._id = null;
        this._notifier.info(
          'The GPU stop was cancelled: this server keeps running.',
          { autoClose: 8000 }
        );
      }
      return;
    }
    const message = notificationMessage(warning, this._timeFormat);
    const options = { autoClose: false as const, actions: this._actions() };
    if (change === 'updated' && this._id !== null) {
      this._notifier.update({ id: this._id, message, type: 'warning', ...options });
      return;
    }
    if (this._id !== null) {
      this._notifier.dismiss(this._id);
    }
    this._id = this._notifier.warning(message, options);
  }

  private _actions(): Notification.IAction[] {
    const actions: Notification.IAction[] = [];
    if (canKeep(this.model.warning)) {
      actions.push({
        label: KEEP_LABEL,
        caption: 'Postpone the stop; using the GPU cancels it',
        displayType: 'accent',
        callback: event => {
          // Keep the toast: it turns into the answer once the server replies.
          event.preventDefault();
          void this.keep();
        }
      });
    }
    actions.push({
      label: SAVE_AND_STOP_LABEL,
      caption: 'Save all open documents, then stop this server and free its GPU',
      displayType: 'warn',
      callback: () => this._saveAndStop()
    });
    return actions;
  }

  private readonly _notifier: INotifier;
  private readonly _saveAndStop: () => void;
  private readonly _timeFormat: (epochSeconds: number) => string;
  private _id: string | null = null;
}
