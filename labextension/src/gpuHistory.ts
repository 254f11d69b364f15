/**
 * Recent GPU samples for the GPU panel's charts: a fixed-size ring buffer per
 * GPU or MIG instance, fed with the `/gpu` samples the status poller already
 * fetches (the history never polls on its own).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { IGpuResponse } from './api';
import { gpuEntries } from './gpuFormat';

/** Fixed-capacity FIFO: pushing onto a full buffer drops the oldest item. */
export class RingBuffer<T> {
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, not ${capacity}`);
    }
    this._items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this._size;
  }

  push(item: T): void {
    this._items[(this._start + this._size) % this.capacity] = item;
    if (this._size < this.capacity) {
      this._size++;
    } else {
      this._start = (this._start + 1) % this.capacity;
    }
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this._size; i++) {
      out.push(this._items[(this._start + i) % this.capacity] as T);
    }
    return out;
  }

  private readonly _items: Array<T | undefined>;
  private _start = 0;
  private _size = 0;
}

/** One point of a chart. */
export interface IGpuPoint {
  /** Epoch seconds of the server's sample. */
  time: number;
  /** Percentage 0-100, or null where NVML cannot tell (MIG). */
  utilization: number | null;
  /** Used memory as a fraction 0-1 of the total. */
  memory: number;
}

/** The recent history of one GPU or MIG instance, with its latest raw numbers. */
export interface IGpuSeries {
  /** Stable identity: the device's or MIG instance's UUID. */
  key: string;
  /** Short label, as in the status bar ("GPU0", "GPU0 1g.5gb"). */
  label: string;
  /** Full device name. */
  name: string;
  /** A MIG instance: NVML reports its utilization only through GPM (Hopper and newer). */
  mig: boolean;
  memoryUsed: number;
  memoryTotal: number;
  /** Oldest first; at most the history's capacity. */
  points: IGpuPoint[];
}

/** Used memory as a fraction of the total, clamped to 0-1 (0 when the total is unknown). */
export function memoryFraction(used: number, total: number): number {
  if (!(total > 0) || !Number.isFinite(used)) {
    return 0;
  }
  return Math.min(Math.max(used / total, 0), 1);
}

interface ITrack {
  series: Omit<IGpuSeries, 'points'>;
  points: RingBuffer<IGpuPoint>;
}

/** The last `capacity` samples of every GPU or MIG instance in the latest sample. */
export class GpuHistory {
  constructor(readonly capacity = 60) {
    // Validate once, up front, rather than on the first device.
    new RingBuffer<IGpuPoint>(capacity);
  }

  /** Emitted after every accepted sample or clear. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Time of the last accepted sample, or null. */
  get lastSampledAt(): number | null {
    return this._last;
  }

  /**
   * Record one `/gpu` sample. Samples without GPUs, or not newer than the
   * last one, are ignored (returns false). Devices missing from the sample
   * are dropped, so the charts follow the server's current GPUs.
   */
  add(sample: IGpuResponse): boolean {
    if (!sample.available || (this._last !== null && sample.sampled_at <= this._last)) {
      return false;
    }
    // gpuEntries lists a MIG GPU as its instances, so keys follow the same flattening.
    const devices = sample.gpus.flatMap(gpu =>
      gpu.mig.length > 0
        ? gpu.mig.map(mig => ({ key: mig.uuid, mig: true }))
        : [{ key: gpu.uuid, mig: false }]
    );
    const tracks = new Map<string, ITrack>();
    gpuEntries(sample.gpus).forEach((entry, i) => {
      const { key, mig } = devices[i];
      const track = this._tracks.get(key) ?? {
        series: { key, label: '', name: '', mig, memoryUsed: 0, memoryTotal: 0 },
        points: new RingBuffer<IGpuPoint>(this.capacity)
      };
      track.series = {
        key,
        label: entry.label,
        name: entry.name,
        mig,
        memoryUsed: entry.memoryUsed,
        memoryTotal: entry.memoryTotal
      };
      track.points.push({
        time: sample.sampled_at,
        utilization: entry.utilization,
        memory: memoryFraction(entry.memoryUsed, entry.memoryTotal)
      });
      tracks.set(key, track);
    });
    this._tracks = tracks;
    this._last = sample.sampled_at;
    this._changed.emit();
    return true;
  }

  /** Every device's history, in the order of the latest sample. */
  series(): IGpuSeries[] {
    return [...this._tracks.values()].map(track => ({
      ...track.series,
      points: track.points.toArray()
    }));
  }

  clear(): void {
    this._tracks = new Map();
    this._last = null;
    this._changed.emit();
  }

  private readonly _changed = new Signal<this, void>(this);
  private _tracks = new Map<string, ITrack>();
  private _last: number | null = null;
}
