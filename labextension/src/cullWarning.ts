/**
 * The idle-GPU culler's warning as the page sees it: what changed, how long
 * is left, whether "keep my GPU" is still possible, and the words shown.
 *
 * Pure apart from the injected clock and keep request, so it is unit tested
 * without a DOM.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { IGpuWarning, IKeepResponse, ImagineApiError } from './api';

/** How the pending warning changed with the latest sample. */
export type WarningChange = 'new' | 'updated' | 'cleared';

/** The answer to "keep my GPU", ready to show. */
export type KeepOutcome =
  | { ok: true; warning: IGpuWarning | null }
  | { ok: false; message: string };

export interface ICullWarningOptions {
  /** Send the "keep" answer, e.g. `() => api.keep()`. */
  keep: () => Promise<IKeepResponse>;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
}

/** Seconds until the stop, never negative. */
export function secondsLeft(warning: IGpuWarning, nowMs: number): number {
  return Math.max(0, Math.ceil(warning.stop_at - nowMs / 1000));
}

/** `m:ss` under an hour, `h:mm:ss` above: the shape of a kitchen timer. */
export function formatCountdown(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Local wall-clock time, hours and minutes. */
export function clockTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit'
  });
}

/** Whether a "keep" answer can still change anything. */
export function canKeep(warning: IGpuWarning | null): boolean {
  return (
    !!warning &&
    warning.postponements_left > 0 &&
    warning.keep_requested_at === null
  );
}

/** Human words for a postponement length, e.g. "1 hour", "30 minutes". */
export function formatDuration(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  if (minutes >= 60 && minutes % 60 === 0) {
    const hours = minutes / 60;
    return hours === 1 ? '1 hour' : `${hours} hours`;
  }
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/**
 * The notification text. JupyterLab cuts toasts at 140 characters, so this
 * stays short and the culler's own (technical) reason goes to the details.
 */
export function notificationMessage(
  warning: IGpuWarning,
  timeFormat: (epochSeconds: number) => string = clockTime
): string {
  const when = timeFormat(warning.stop_at);
  if (warning.keep_requested_at !== null) {
    return `GPU kept: this server now stops at ${when} unless the GPU is used.`;
  }
  return `The GPU has been idle: this server will stop at ${when}. Save your work.`;
}

/** What "keep" does now, or why it cannot, for the details dialog. */
export function keepExplanation(warning: IGpuWarning): string {
  if (warning.keep_requested_at !== null) {
    return 'Your answer was received; the culler applies it within a minute.';
  }
  if (warning.postponements_left <= 0) {
    return (
      'No postponements are left for this server: save your work. ' +
      'Start a new server when you need a GPU again.'
    );
  }
  const left = warning.postponements_left;
  return (
    `"Keep my GPU" postpones the stop by ${formatDuration(warning.postpone_by)} ` +
    `(${left} ${left === 1 ? 'time' : 'times'} left). Using the GPU cancels the stop.`
  );
}

/** Follows the warning in each `/gpu` sample and sends "keep" answers. */
export class CullWarningModel {
  constructor(options: ICullWarningOptions) {
    this._keep = options.keep;
    this._now = options.now ?? Date.now;
  }

  get warning(): IGpuWarning | null {
    return this._warning;
  }

  /** Emitted with what changed; not emitted for an identical sample. */
  get changed(): ISignal<this, WarningChange> {
    return this._changed;
  }

  /** The same changes without detail, for the status bar's `activeStateChanged`. */
  get statusChanged(): ISignal<this, void> {
    return this._statusChanged;
  }

  /** Whether a "keep" request is in flight. */
  get keeping(): boolean {
    return this._keeping;
  }

  get canKeep(): boolean {
    return !this._keeping && canKeep(this._warning);
  }

  /** Seconds until the stop, or null without a warning. */
  secondsLeft(): number | null {
    return this._warning ? secondsLeft(this._warning, this._now()) : null;
  }

  /** Take the warning of the latest sample (null: none pending). */
  update(warning: IGpuWarning | null): void {
    const previous = this._warning;
    if (!warning) {
      if (previous) {
        this._warning = null;
        this._emit('cleared');
      }
      return;
    }
    this._warning = { ...warning };
    if (!previous || previous.issued_at !== warning.issued_at) {
      this._emit('new');
    } else if (!sameWarning(previous, warning)) {
      this._emit('updated');
    }
  }

  /** Answer "keep my GPU"; the server's message comes back when it refuses. */
  async keep(): Promise<KeepOutcome> {
    if (this._keeping) {
      return { ok: false, message: 'Your answer is already being sent.' };
    }
    this._keeping = true;
    try {
      const answer = await this._keep();
      this.update(answer.warning);
      return { ok: true, warning: answer.warning };
    } catch (error) {
      if (error instanceof ImagineApiError && error.reason === 'no-warning') {
        // The culler withdrew it meanwhile (the GPU got busy): nothing to keep.
        this.update(null);
      }
      const message = error instanceof Error ? error.message : String(error);
      return { ok: false, message };
    } finally {
      this._keeping = false;
    }
  }

  private _emit(change: WarningChange): void {
    this._changed.emit(change);
    this._statusChanged.emit();
  }

  private readonly _keep: () => Promise<IKeepResponse>;
  private readonly _now: () => number;
  private readonly _changed = new Signal<this, WarningChange>(this);
  private readonly _statusChanged = new Signal<this, void>(this);
  private _warning: IGpuWarning | null = null;
  private _keeping = false;
}

function sameWarning(a: IGpuWarning, b: IGpuWarning): boolean {
  return (
    a.stop_at === b.stop_at &&
    a.reason === b.reason &&
    a.postponements_left === b.postponements_left &&
    a.postpone_by === b.postpone_by &&
    a.keep_requested_at === b.keep_requested_at
  );
}
