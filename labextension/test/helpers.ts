import { IGpuResponse, IGpuWarning } from '../src/api';
import { IScheduler, IVisibilitySource } from '../src/gpu';

/** Timers that only fire when the test says so. */
export class ManualScheduler implements IScheduler {
  timers = new Map<number, { callback: () => void; ms: number }>();
  private _next = 1;

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this._next++;
    this.timers.set(id, { callback, ms });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Delays of the timers now pending. */
  get pending(): number[] {
    return [...this.timers.values()].map(timer => timer.ms);
  }

  /** Fire the single pending timer. */
  fire(): void {
    if (this.timers.size !== 1) {
      throw new Error(`expected one pending timer, found ${this.timers.size}`);
    }
    const [[id, timer]] = this.timers;
    this.timers.delete(id);
    timer.callback();
  }
}

/** A stand-in for `document` visibility. */
export class FakeVisibility implements IVisibilitySource {
  hidden = false;
  private _listeners = new Set<() => void>();

  addEventListener(_type: 'visibilitychange', listener: () => void): void {
    this._listeners.add(listener);
  }

  removeEventListener(_type: 'visibilitychange', listener: () => void): void {
    this._listeners.delete(listener);
  }

  get listenerCount(): number {
    return this._listeners.size;
  }

  set(hidden: boolean): void {
    this.hidden = hidden;
    this._listeners.forEach(listener => listener());
  }
}

/** Let pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

export const GIB = 2 ** 30;

export function a100Sample(overrides: Partial<IGpuResponse> = {}): IGpuResponse {
  return {
    available: true,
    message: '',
    sampled_at: 1732200000,
    gpus: [
      {
        index: 0,
        name: 'NVIDIA A100-SXM4-40GB',
        uuid: 'GPU-0',
        utilization: 37,
        memory_used: 1 * GIB,
        memory_total: 40 * GIB,
        processes: [{ pid: 1234, memory_used: 1048576 }],
        mig: []
      }
    ],
    warning: null,
    ...overrides
  };
}

export function migSample(): IGpuResponse {
  return a100Sample({
    gpus: [
      {
        index: 0,
        name: 'NVIDIA A100-SXM4-40GB',
        uuid: 'GPU-0',
        utilization: null,
        memory_used: 0,
        memory_total: 40 * GIB,
        processes: [],
        mig: [
          {
            uuid: 'MIG-0',
            name: '1g.5gb',
            utilization: null,
            memory_used: 0,
            memory_total: 5 * GIB
          }
        ]
      }
    ]
  });
}

export const NO_GPU: IGpuResponse = {
  available: false,
  message: 'No GPU is assigned to this server.',
  sampled_at: 1732200000,
  gpus: [],
  warning: null
};

/** A culler warning stopping the server at 2024-11-21T15:30:00Z. */
export function idleWarning(reason: string): IGpuWarning {
  return {
    issued_at: 1732199400,
    stop_at: 1732203000,
    reason,
    postponements_left: 2,
    postpone_by: 3600,
    keep_requested_at: null
  };
}
