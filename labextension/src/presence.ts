/**
 * Presence: tell the server a person is at the keyboard.
 *
 * The idle-GPU culler must be able to tell a person working from a tab that
 * merely polls. So reports come only from real input events, never from
 * timers, and at most once per `minInterval` to keep the traffic negligible.
 */
import { PresenceKind } from './api';

export interface IPresenceOptions {
  /** Deliver one report, e.g. `kind => api.presence(kind)`. */
  send: (kind: PresenceKind) => Promise<unknown>;
  /** Minimum time between two reports, ms. */
  minInterval?: number;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
  /**
   * Ignore events created by scripts (`isTrusted === false`), so that no
   * code path, ours or another extension's, can fake a person being there.
   */
  trustedOnly?: boolean;
}

/** Where listeners go: the document for input, the window for focus. */
export interface IPresenceTargets {
  document: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  window: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
}

/** Which DOM event maps to which reported kind, and on which target. */
const EVENTS: ReadonlyArray<[keyof IPresenceTargets, string, PresenceKind]> = [
  ['document', 'keydown', 'key'],
  ['document', 'pointerdown', 'click'],
  ['window', 'focus', 'focus']
];

/** Rate-limited reporter of real user interaction. */
export class PresenceReporter {
  readonly minInterval: number;

  constructor(options: IPresenceOptions) {
    this._send = options.send;
    this.minInterval = options.minInterval ?? 60_000;
    this._now = options.now ?? Date.now;
    this._trustedOnly = options.trustedOnly ?? true;
  }

  /** Number of reports sent so far (for tests and debugging). */
  get sent(): number {
    return this._sent;
  }

  /**
   * Record one interaction; returns whether a report went out.
   *
   * The time is taken before sending, so a failing server is not retried
   * on every keystroke.
   */
  report(kind: PresenceKind): boolean {
    const now = this._now();
    if (this._last !== null && now - this._last < this.minInterval) {
      return false;
    }
    this._last = now;
    this._sent++;
    this._send(kind).catch(error => {
      // Presence is best effort: a lost report only shortens the idle grace.
      console.debug('jupyterhub-imagine: presence report failed', error);
    });
    return true;
  }

  /** Start listening; call the returned function (or `dispose`) to stop. */
  connect(targets: IPresenceTargets): () => void {
    this.disconnect();
    const removers = EVENTS.map(([where, type, kind]) => {
      const target = targets[where];
      const listener = (event: Event): void => {
        if (this._trustedOnly && !event.isTrusted) {
          return;
        }
        // Only the window itself gaining focus counts: element focus events
        // are mostly JupyterLab moving focus by script (restoring a layout,
        // opening a dialog), which is not a person arriving.
        if (type === 'focus' && event.target !== target) {
          return;
        }
        this.report(kind);
      };
      // Capture phase for input: editors and Lumino stop propagation of many
      // key and pointer events, and those are exactly the interactions that count.
      const options: AddEventListenerOptions = {
        capture: type !== 'focus',
        passive: true
      };
      target.addEventListener(type, listener, options);
      return () => target.removeEventListener(type, listener, options);
    });
    this._disconnect = () => removers.forEach(remove => remove());
    return () => this.disconnect();
  }

  disconnect(): void {
    this._disconnect?.();
    this._disconnect = null;
  }

  dispose(): void {
    this.disconnect();
  }

  private readonly _send: (kind: PresenceKind) => Promise<unknown>;
  private readonly _now: () => number;
  private readonly _trustedOnly: boolean;
  private _last: number | null = null;
  private _sent = 0;
  private _disconnect: (() => void) | null = null;
}
