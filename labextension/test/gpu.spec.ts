import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it, vi } from 'vitest';

import { IGpuResponse, ImagineApi, ImagineApiError } from '../src/api';
import { GpuStatusModel } from '../src/gpu';
import {
  formatGiB,
  formatStatus,
  formatTooltip,
  formatUtilization,
  formatWarning,
  gpuEntries,
  migProfile
} from '../src/gpuFormat';
import {
  FakeVisibility,
  GIB,
  ManualScheduler,
  NO_GPU,
  a100Sample,
  flush,
  idleWarning,
  migSample
} from './helpers';

function setup(
  fetch: () => Promise<IGpuResponse>,
  options: Partial<ConstructorParameters<typeof GpuStatusModel>[0]> = {}
) {
  const scheduler = new ManualScheduler();
  const visibility = new FakeVisibility();
  const fetchSpy = vi.fn(fetch);
  const model = new GpuStatusModel({
    fetch: fetchSpy,
    interval: 1000,
    unavailableInterval: 60_000,
    maxInterval: 16_000,
    scheduler,
    visibility,
    ...options
  });
  return { model, scheduler, visibility, fetch: fetchSpy };
}

describe('GpuStatusModel polling', () => {
  it('polls at once, then every interval, and emits changed', async () => {
    const { model, scheduler, fetch } = setup(async () => a100Sample());
    const changed = vi.fn();
    model.changed.connect(changed);
    model.start();
    await flush();
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(model.available).toBe(true);
    expect(model.data?.gpus[0].utilization).toBe(37);
    expect(changed).toHaveBeenCalled();
    expect(scheduler.pending).toEqual([1000]);
    scheduler.fire();
    await flush();
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(scheduler.pending).toEqual([1000]);
  });

  it('is not available and slows down when the server has no GPU', async () => {
    const { model, scheduler } = setup(async () => NO_GPU);
    model.start();
    await flush();
    expect(model.available).toBe(false);
    expect(model.state).toBe('polling');
    expect(scheduler.pending).toEqual([60_000]);
  });

  it('backs off exponentially on errors, capped, and resets on success', async () => {
    let fail = true;
    const { model, scheduler } = setup(async () => {
      if (fail) {
        throw new ImagineApiError('Internal error', 500);
      }
      return a100Sample();
    });
    model.start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await flush();
      delays.push(...scheduler.pending);
      scheduler.fire();
    }
    expect(delays).toEqual([2000, 4000, 8000, 16_000, 16_000, 16_000]);
    expect(model.error?.message).toBe('Internal error');
    expect(model.state).toBe('polling');
    fail = false;
    await flush();
    scheduler.fire();
    await flush();
    expect(model.error).toBeNull();
    expect(model.failures).toBe(0);
    expect(scheduler.pending).toEqual([1000]);
  });

  it('keeps the last sample through a transient error', async () => {
    let calls = 0;
    const { model, scheduler } = setup(async () => {
      if (calls++ === 1) {
        throw new ImagineApiError('busy', 503);
      }
      return a100Sample();
    });
    model.start();
    await flush();
    scheduler.fire();
    await flush();
    expect(model.error).not.toBeNull();
    expect(model.available).toBe(true);
    expect(formatStatus(model.data)).toContain('GPU0 37%');
  });

  it.each([404, 410, 424, 0])('stops after repeated %i (server gone)', async status => {
    const { model, scheduler, visibility, fetch } = setup(async () => {
      throw new ImagineApiError('gone', status);
    });
    model.start();
    await flush();
    scheduler.fire();
    await flush();
    expect(model.state).toBe('polling');
    scheduler.fire();
    await flush();
    expect(model.state).toBe('stopped');
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(scheduler.pending).toEqual([]);
    expect(visibility.listenerCount).toBe(0);
    // Becoming visible again must not revive it.
    visibility.set(true);
    visibility.set(false);
    await flush();
    expect(fetch).toHaveBeenCalledTimes(3);
  });

  it('hides the item once stopped even if it had data', async () => {
    let calls = 0;
    const { model, scheduler } = setup(
      async () => {
        if (calls++ === 0) {
          return a100Sample();
        }
        throw new ImagineApiError('gone', 404);
      },
      { maxGoneFailures: 1 }
    );
    model.start();
    await flush();
    expect(model.available).toBe(true);
    scheduler.fire();
    await flush();
    expect(model.state).toBe('stopped');
    expect(model.available).toBe(false);
  });

  it('only counts consecutive gone failures', async () => {
    const statuses = [404, 404, 500, 404, 404];
    const { model, scheduler } = setup(async () => {
      throw new ImagineApiError('x', statuses.shift() ?? 500);
    });
    model.start();
    for (let i = 0; i < 5; i++) {
      await flush();
      expect(model.state).toBe('polling');
      scheduler.fire();
    }
  });

  it('does not poll while hidden and refreshes at once when shown', async () => {
    const { model, scheduler, visibility, fetch } = setup(async () => a100Sample());
    visibility.hidden = true;
    model.start();
    await flush();
    expect(fetch).not.toHaveBeenCalled();
    expect(model.state).toBe('paused');
    expect(scheduler.pending).toEqual([]);
    visibility.set(false);
    await flush();
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(model.state).toBe('polling');
  });

  it('cancels the pending poll when the tab is hidden', async () => {
    const { model, scheduler, visibility, fetch } = setup(async () => a100Sample());
    model.start();
    await flush();
    expect(scheduler.pending).toEqual([1000]);
    visibility.set(true);
    expect(scheduler.pending).toEqual([]);
    expect(model.state).toBe('paused');
    visibility.set(false);
    await flush();
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(scheduler.pending).toEqual([1000]);
  });

  it('does not schedule after a response that arrives while hidden', async () => {
    let resolve: (value: IGpuResponse) => void = () => undefined;
    const { model, scheduler, visibility } = setup(
      () => new Promise<IGpuResponse>(r => (resolve = r))
    );
    model.start();
    visibility.hidden = true;
    resolve(a100Sample());
    await flush();
    expect(model.state).toBe('paused');
    expect(scheduler.pending).toEqual([]);
  });

  it('ignores a response that arrives after stop()', async () => {
    let resolve: (value: IGpuResponse) => void = () => undefined;
    const { model, scheduler } = setup(
      () => new Promise<IGpuResponse>(r => (resolve = r))
    );
    model.start();
    model.stop();
    resolve(a100Sample());
    await flush();
    expect(model.data).toBeNull();
    expect(scheduler.pending).toEqual([]);
  });

  it('polls with GET /gpu only: polling is never reported as presence', async () => {
    const methods: string[] = [];
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://hub.example/user/alice/',
      fetch: async (input: RequestInfo) => {
        const request = input as Request;
        methods.push(`${request.method} ${new URL(request.url).pathname}`);
        return new Response(JSON.stringify(a100Sample()), { status: 200 });
      }
    });
    const api = new ImagineApi(settings);
    const { model, scheduler } = setup(() => api.gpu());
    model.start();
    for (let i = 0; i < 4; i++) {
      await new Promise(r => setTimeout(r, 0));
      scheduler.fire();
    }
    await new Promise(r => setTimeout(r, 0));
    expect(methods.length).toBeGreaterThanOrEqual(4);
    expect(new Set(methods)).toEqual(
      new Set(['GET /user/alice/jupyterhub-imagine/api/gpu'])
    );
  });
});

describe('GPU formatting', () => {
  it('shows unknown utilization as n/a, never 0%', () => {
    expect(formatUtilization(null)).toBe('n/a');
    expect(formatUtilization(0)).toBe('0%');
    expect(formatUtilization(37.6)).toBe('38%');
  });

  it('shows memory in GiB with one decimal', () => {
    expect(formatGiB(1.5 * GIB)).toBe('1.5');
    expect(formatGiB(0)).toBe('0.0');
  });

  it('formats a whole GPU', () => {
    expect(formatStatus(a100Sample())).toBe('GPU0 37% 1.0/40.0 GiB');
  });

  it('says when the GPUs are simulated, in the status bar and its tooltip', () => {
    const sample = { ...a100Sample(), simulated: true };
    expect(formatStatus(sample)).toBe('GPU0 37% 1.0/40.0 GiB (simulated)');
    expect(formatTooltip(sample, null)).toContain('Simulated GPUs');
    expect(formatTooltip(a100Sample(), null)).not.toContain('Simulated');
  });

  it('formats MIG instances instead of their parent GPU', () => {
    expect(gpuEntries(migSample().gpus)).toHaveLength(1);
    expect(formatStatus(migSample())).toBe('GPU0 1g.5gb n/a 0.0/5.0 GiB');
  });

  it('shortens NVML MIG instance names to their profile', () => {
    expect(migProfile('NVIDIA A100-SXM4-40GB MIG 1g.5gb')).toBe('1g.5gb');
    expect(migProfile('1g.5gb')).toBe('1g.5gb');
    const sample = migSample();
    sample.gpus[0].mig[0].name = 'NVIDIA A100-SXM4-40GB MIG 3g.20gb';
    expect(formatStatus(sample)).toBe('GPU0 3g.20gb n/a 0.0/5.0 GiB');
    expect(formatTooltip(sample, null)).toContain('(NVIDIA A100-SXM4-40GB MIG 3g.20gb)');
  });

  it('joins several GPUs', () => {
    const sample = a100Sample();
    sample.gpus.push({ ...sample.gpus[0], index: 1, utilization: 90, memory_used: 20 * GIB });
    expect(formatStatus(sample)).toBe(
      'GPU0 37% 1.0/40.0 GiB | GPU1 90% 20.0/40.0 GiB'
    );
  });

  it('shows nothing when there is no GPU', () => {
    expect(formatStatus(NO_GPU)).toBe('');
    expect(formatStatus(null)).toBe('');
  });

  it('puts names, the culler warning and the last error into the tooltip', () => {
    const tooltip = formatTooltip(
      a100Sample({ warning: idleWarning('The GPU has been idle for 2 hours') }),
      new Error('timeout')
    );
    expect(tooltip).toContain('GPU0 (NVIDIA A100-SXM4-40GB): utilization 37%');
    expect(tooltip).toContain(
      'Warning: The GPU has been idle for 2 hours. The server will be stopped at'
    );
    expect(tooltip).toContain('Last update failed: timeout');
    expect(formatTooltip(migSample(), null)).toContain('utilization n/a');
  });
});

describe('formatWarning', () => {
  const hhmm = (date: Date) => date.toISOString().slice(11, 16);

  it('states the reason and the stop time', () => {
    expect(formatWarning(idleWarning('GPU idle for 2 h'), hhmm)).toBe(
      'GPU idle for 2 h. The server will be stopped at 15:30.'
    );
  });

  it('does not double the full stop or leave a stray one', () => {
    expect(formatWarning(idleWarning('Idle.'), hhmm)).toBe(
      'Idle. The server will be stopped at 15:30.'
    );
    expect(formatWarning(idleWarning(''), hhmm)).toBe(
      'The server will be stopped at 15:30.'
    );
  });
});
