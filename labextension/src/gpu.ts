/**
 * GPU status: a polling model over `GET /gpu`.
 *
 * Polling is read-only on purpose: the server does not count it as activity,
 * so a forgotten tab cannot keep an idle GPU allocated.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { IGpuResponse, ImagineApiError } from './api';

/** The bits of `document` the model needs; injectable for tests. */
export interface IVisibilitySource {
  readonly hidden: boolean;
  addEventListener(type: 'visibilitychange', listener: () => void): void;
  removeEventListener(type: 'visibilitychange', listener: () => void): void;
}

/** Timer functions; injectable so tests can drive time by hand. */
export interface IScheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface IGpuPollerOptions {
  /** Fetch one sample, e.g. `() => api.gpu()`. */
  fetch: () => Promise<IGpuResponse>;
  /** Delay between successful polls, ms. */
  interval?: number;
  /** Delay between polls while the server reports no GPU, ms. */
  unavailableInterval?: number;
  /** Ceiling of the exponential backoff after errors, ms. */
  maxInterval?: number;
  /** Consecutive "server gone" failures (404/410/424/network) before giving up. */
  maxGoneFailures?: number;
  visibility?: IVisibilitySource;
  scheduler?: IScheduler;
}

export type PollerState = 'idle' | 'polling' | 'paused' | 'stopped';

const defaultScheduler: IScheduler = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: handle =>
    globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>)
};

/** Polls `/gpu`, backing off on errors, pausing while the tab is hidden. */
export class GpuStatusModel {
  readonly unavailableInterval: number;
  readonly maxInterval: number;
  readonly maxGoneFailures: number;

  constructor(options: IGpuPollerOptions) {
    this._fetch = options.fetch;
    this.interval = options.interval ?? 5_000;
    this.unavailableInterval = options.unavailableInterval ?? 60_000;
    this.maxInterval = options.maxInterval ?? 300_000;
    this.maxGoneFailures = options.maxGoneFailures ?? 3;
    this._visibility =
      options.visibility ??
      (typeof document === 'undefined' ? undefined : document);
    this._scheduler = options.scheduler ?? defaultScheduler;
  }

  /** Delay between successful polls, ms; a change applies from the next poll. */
  get interval(): number {
    return this._interval;
  }

  set interval(ms: number) {
    if (Number.isFinite(ms) && ms > 0) {
      this._interval = ms;
    }
  }

  /** Emitted whenever data, error or state change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get state(): PollerState {
    return this._state;
  }

  /** The last successful sample, kept through transient errors. */
  get data(): IGpuResponse | null {
    return this._data;
  }

  /** The last failure, cleared by the next success. */
  get error(): Error | null {
    return this._error;
  }

  /** Consecutive failures so far; drives the backoff. */
  get failures(): number {
    return this._failures;
  }

  /** Whether there is a GPU to show. */
  get available(): boolean {
    return this._state !== 'stopped' && !!this._data?.available;
  }

  /** Delay before the next poll after `failures` consecutive errors. */
  backoffDelay(failures: number): number {
    return Math.min(this.interval * 2 ** failures, this.maxInterval);
  }

  start(): void {
    if (this._state !== 'idle') {
      return;
    }
    this._visibility?.addEventListener('visibilitychange', this._onVisibility);
    this._state = 'polling';
    void this._poll();
  }

  /** Stop for good (server gone or plugin disposed). */
  stop(): void {
    if (this._state === 'stopped') {
      return;
    }
    this._clearTimer();
    this._visibility?.removeEventListener(
      'visibilitychange',
      this._onVisibility
    );
    this._generation++;
    this._state = 'stopped';
    this._changed.emit();
  }

  private _onVisibility = (): void => {
    if (this._state === 'stopped' || this._state === 'idle') {
      return;
    }
    if (this._visibility?.hidden) {
      this._clearTimer();
      this._setState('paused');
    } else if (this._state === 'paused') {
      // Coming back: refresh at once instead of showing a stale sample.
      this._setState('polling');
      void this._poll();
    }
  };

  private async _poll(): Promise<void> {
    this._clearTimer();
    if (this._visibility?.hidden) {
      this._setState('paused');
      return;
    }
    const generation = ++this._generation;
    try {
      const data = await this._fetch();
      if (generation !== this._generation) {
        return;
      }
      this._data = data;
      this._error = null;
      this._failures = 0;
      this._goneFailures = 0;
      this._changed.emit();
      this._schedule(data.available ? this.interval : this.unavailableInterval);
    } catch (reason) {
      if (generation !== this._generation) {
        return;
      }
      const error = reason instanceof Error ? reason : new Error(String(reason));
      this._error = error;
      this._failures++;
      const gone = error instanceof ImagineApiError && error.serverGone;
      this._goneFailures = gone ? this._goneFailures + 1 : 0;
      if (this._goneFailures >= this.maxGoneFailures) {
        this.stop();
        return;
      }
      this._changed.emit();
      this._schedule(this.backoffDelay(this._failures));
    }
  }

  private _schedule(delay: number): void {
    if (this._state === 'stopped') {
      return;
    }
    if (this._visibility?.hidden) {
      this._setState('paused');
      return;
    }
    this._timer = this._scheduler.setTimeout(() => {
      this._timer = null;
      void this._poll();
    }, delay);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      this._scheduler.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _setState(state: PollerState): void {
    if (this._state !== state) {
      this._state = state;
      this._changed.emit();
    }
  }

  private readonly _fetch: () => Promise<IGpuResponse>;
  private readonly _visibility: IVisibilitySource | undefined;
  private readonly _scheduler: IScheduler;
  private readonly _changed = new Signal<this, void>(this);
  private _state: PollerState = 'idle';
  private _data: IGpuResponse | null = null;
  private _error: Error | null = null;
  private _failures = 0;
  private _goneFailures = 0;
  private _generation = 0;
  private _timer: unknown = null;
  private _interval = 5_000;
}
