// @vitest-environment jsdom
/**
 * The GPU panel: ring-buffer history, SVG path building, the chart widget,
 * the status item as a button, and the open-panel command.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { IGpuResponse } from '../src/api';
import { GpuStatusModel } from '../src/gpu';
import { GpuHistory, RingBuffer, memoryFraction } from '../src/gpuHistory';
import { GPU_PANEL_ID, GpuPanel, chartLabel, createGpuPanel, linePath } from '../src/gpuPanel';
import { OPEN_GPU_PANEL, gpuStatusPlugin } from '../src/gpuPlugins';
import { GpuStatusWidget } from '../src/gpuStatus';
import { FakeVisibility, GIB, ManualScheduler, NO_GPU, a100Sample, flush, migSample } from './helpers';

// jsdom has no ResizeObserver; MainAreaWidget's toolbar only needs it to exist.
(globalThis as Record<string, unknown>).ResizeObserver ??= class {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};

afterEach(() => {
  document.body.innerHTML = '';
});

/** An A100 sample at `time` with the given utilization and used GiB. */
function sample(time: number, utilization: number | null, usedGiB: number): IGpuResponse {
  const base = a100Sample();
  return {
    ...base,
    sampled_at: time,
    gpus: [{ ...base.gpus[0], utilization, memory_used: usedGiB * GIB }]
  };
}

function twoGpus(time: number): IGpuResponse {
  const base = a100Sample();
  const gpu = base.gpus[0];
  return {
    ...base,
    sampled_at: time,
    gpus: [gpu, { ...gpu, index: 1, uuid: 'GPU-1', utilization: 90, memory_used: 20 * GIB }]
  };
}

describe('RingBuffer', () => {
  it('keeps the last `capacity` items, oldest first', () => {
    const ring = new RingBuffer<number>(3);
    expect(ring.toArray()).toEqual([]);
    [1, 2].forEach(n => ring.push(n));
    expect(ring.toArray()).toEqual([1, 2]);
    [3, 4, 5].forEach(n => ring.push(n));
    expect(ring.toArray()).toEqual([3, 4, 5]);
    expect(ring.size).toBe(3);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(2.5)).toThrow(RangeError);
    expect(() => new GpuHistory(0)).toThrow(RangeError);
  });
});

describe('memoryFraction', () => {
  it('is used/total, clamped, and 0 without a total', () => {
    expect(memoryFraction(10, 40)).toBe(0.25);
    expect(memoryFraction(50, 40)).toBe(1);
    expect(memoryFraction(-1, 40)).toBe(0);
    expect(memoryFraction(5, 0)).toBe(0);
  });
});

describe('GpuHistory', () => {
  it('records utilization and memory fraction per GPU, up to its capacity', () => {
    const history = new GpuHistory(3);
    const changed = vi.fn();
    history.changed.connect(changed);
    for (const [t, u] of [[1, 10], [2, 20], [3, 30], [4, 40]]) {
      expect(history.add(sample(t, u, t))).toBe(true);
    }
    expect(changed).toHaveBeenCalledTimes(4);
    const [series] = history.series();
    expect(series).toMatchObject({
      key: 'GPU-0',
      label: 'GPU0',
      name: 'NVIDIA A100-SXM4-40GB',
      mig: false,
      memoryUsed: 4 * GIB,
      memoryTotal: 40 * GIB
    });
    expect(series.points).toEqual([
      { time: 2, utilization: 20, memory: 0.05 },
      { time: 3, utilization: 30, memory: 0.075 },
      { time: 4, utilization: 40, memory: 0.1 }
    ]);
  });

  it('ignores repeated or older samples and samples without a GPU', () => {
    const history = new GpuHistory();
    expect(history.add(sample(5, 10, 1))).toBe(true);
    expect(history.add(sample(5, 99, 1))).toBe(false);
    expect(history.add(sample(4, 99, 1))).toBe(false);
    expect(history.add({ ...NO_GPU, sampled_at: 6 })).toBe(false);
    expect(history.series()[0].points.map(p => p.utilization)).toEqual([10]);
    expect(history.lastSampledAt).toBe(5);
  });

  it('keeps unknown utilization as null and shows MIG instances as memory only', () => {
    const history = new GpuHistory();
    history.add(sample(1, null, 1));
    expect(history.series()[0].points[0].utilization).toBeNull();
    history.add({ ...migSample(), sampled_at: 2 });
    const series = history.series();
    // the MIG GPU is its instance: the plain GPU's series is gone
    expect(series.map(s => [s.key, s.label, s.mig])).toEqual([['MIG-0', 'GPU0 1g.5gb', true]]);
    expect(series[0].points).toEqual([{ time: 2, utilization: null, memory: 0 }]);
  });

  it('follows the order of the sample and keeps each device apart', () => {
    const history = new GpuHistory();
    history.add(twoGpus(1));
    history.add(twoGpus(2));
    const series = history.series();
    expect(series.map(s => s.label)).toEqual(['GPU0', 'GPU1']);
    expect(series[1].points.map(p => [p.utilization, p.memory])).toEqual([
      [90, 0.5],
      [90, 0.5]
    ]);
    history.clear();
    expect(history.series()).toEqual([]);
    expect(history.lastSampledAt).toBeNull();
  });
});

describe('linePath', () => {
  it('puts the newest value at the right edge, one step per slot', () => {
    expect(linePath([0, 0.5, 1], 3, 100, 80)).toBe('M0 80 L50 40 L100 0');
    // two samples of a 5-slot chart sit in the last two slots
    expect(linePath([0.25, 0.75], 5, 100, 80)).toBe('M75 60 L100 20');
  });

  it('breaks the line at unknown values and draws lone points as dots', () => {
    expect(linePath([0.5, null, 0.5, 0.5], 4, 30, 10)).toBe('M0 5h0 M20 5 L30 5');
    expect(linePath([1], 61, 300, 80)).toBe('M300 0h0');
    expect(linePath([null, null], 4)).toBe('');
    expect(linePath([], 4)).toBe('');
  });

  it('clamps to the box and rounds to one decimal', () => {
    expect(linePath([-1, 2], 2, 10, 10)).toBe('M0 10 L10 0');
    expect(linePath([1 / 3, 2 / 3], 2, 10, 10)).toBe('M0 6.7 L10 3.3');
    // more values than slots: they all fit
    expect(linePath([0, 0, 0], 2, 10, 10)).toBe('M0 10 L5 10 L10 10');
  });
});

describe('GpuPanel', () => {
  function attached(history: GpuHistory) {
    const panel = createGpuPanel(history);
    Widget.attach(panel, document.body);
    return panel;
  }

  it('draws one labelled chart per GPU that follows new samples', async () => {
    const history = new GpuHistory(10);
    history.add(twoGpus(1));
    const panel = attached(history);
    expect(panel.id).toBe(GPU_PANEL_ID);
    expect(panel.title.label).toBe('GPU');
    const charts = panel.node.querySelectorAll('svg[role="img"]');
    expect(charts).toHaveLength(2);
    expect(charts[1].getAttribute('aria-label')).toBe(
      'GPU1 (NVIDIA A100-SXM4-40GB): utilization 90%, memory 20.0 of 40.0 GiB (50%); ' +
        'chart of the last 1 sample'
    );
    expect(charts[0].querySelector('.imagine-GpuChart-utilization')?.getAttribute('d')).toBe(
      'M300 50.4h0'
    );

    history.add(sample(2, 87, 12));
    // rendering is a posted update-request message
    await vi.waitFor(() => expect(panel.node.querySelectorAll('svg[role="img"]')).toHaveLength(1));
    const after = panel.node.querySelectorAll('svg[role="img"]');
    expect(after[0]).toBe(charts[0]); // the same node, updated in place
    expect(after[0].getAttribute('aria-label')).toContain('utilization 87%, memory 12.0 of 40.0 GiB (30%)');
    expect(after[0].querySelector('.imagine-GpuChart-utilization')?.getAttribute('d')).toBe(
      'M266.7 50.4 L300 10.4'
    );
    panel.dispose();
  });

  it('shows MIG instances with memory only and "utilization n/a"', () => {
    const history = new GpuHistory();
    history.add(migSample());
    const panel = attached(history);
    const chart = panel.node.querySelector('.imagine-GpuChart') as HTMLElement;
    expect(chart.textContent).toContain('utilization n/a');
    expect(chart.querySelector('svg')?.getAttribute('aria-label')).toMatch(
      /^GPU0 1g\.5gb \(NVIDIA A100-SXM4-40GB MIG 1g\.5gb\): utilization n\/a, memory 0\.0 of 5\.0 GiB/
    );
    expect(chart.querySelector('.imagine-GpuChart-utilization')?.getAttribute('d')).toBe('');
    expect(chart.querySelector('.imagine-GpuChart-memory')?.getAttribute('d')).toBe('M300 80h0');
    panel.dispose();
  });

  it('charts a MIG instance whose utilization GPM measures (Hopper and newer)', () => {
    const history = new GpuHistory();
    const measured = (utilization: number | null, at: number) => {
      const sample = migSample();
      sample.gpus[0].mig[0].utilization = utilization;
      return { ...sample, sampled_at: at };
    };
    history.add(measured(null, 1)); // GPM's first read has nothing to compare with
    history.add(measured(40, 2));
    const panel = attached(history);
    const chart = panel.node.querySelector('.imagine-GpuChart') as HTMLElement;
    expect(chart.textContent).toContain('Utilization 40%');
    expect(chart.textContent).not.toContain('n/a');
    const line = chart.querySelector('.imagine-GpuChart-utilization') as SVGPathElement;
    expect(line.getAttribute('d')).not.toBe('');
    expect(line.style.display).toBe('');
    panel.dispose();
  });

  it('says why there is no chart, and redraws a hidden panel once shown', async () => {
    const scheduler = new ManualScheduler();
    const model = new GpuStatusModel({
      fetch: async () => NO_GPU,
      scheduler,
      visibility: new FakeVisibility()
    });
    const history = new GpuHistory();
    const content = new GpuPanel(history, model);
    Widget.attach(content, document.body);
    expect(content.node.textContent).toContain('Waiting for the first GPU sample');
    model.start();
    await vi.waitFor(() =>
      expect(content.node.textContent).toContain('No GPU is assigned to this server.')
    );
    // no legend over no chart, and no word of simulation for a real answer
    expect((content.node.querySelector('.imagine-GpuPanel-legend') as HTMLElement).hidden).toBe(true);
    expect((content.node.querySelector('.imagine-GpuPanel-simulated') as HTMLElement).hidden).toBe(true);

    content.hide();
    history.add(a100Sample());
    await new Promise(resolve => setTimeout(resolve, 50));
    // nothing is drawn while hidden
    expect(content.node.querySelectorAll('svg')).toHaveLength(0);
    content.show();
    await vi.waitFor(() => expect(content.node.querySelectorAll('svg')).toHaveLength(1));
    model.stop();
    content.dispose();
    // disposed: no longer listens
    expect(() => history.add(sample(1e10, 1, 1))).not.toThrow();
  });

  it('says so when the GPUs are the demo\'s simulated ones', async () => {
    const scheduler = new ManualScheduler();
    const model = new GpuStatusModel({
      fetch: async () => ({ ...a100Sample(), simulated: true }),
      scheduler,
      visibility: new FakeVisibility()
    });
    const history = new GpuHistory();
    model.changed.connect(() => model.data && history.add(model.data));
    const content = new GpuPanel(history, model);
    Widget.attach(content, document.body);
    model.start();
    const note = content.node.querySelector('.imagine-GpuPanel-simulated') as HTMLElement;
    await vi.waitFor(() => expect(note.hidden).toBe(false));
    expect(note.textContent).toContain('Simulated GPUs');
    expect((content.node.querySelector('.imagine-GpuPanel-legend') as HTMLElement).hidden).toBe(false);
    model.stop();
    content.dispose();
  });

  it('labels charts with the latest values', () => {
    const history = new GpuHistory();
    history.add(sample(1, 41, 3));
    history.add(sample(2, 42, 3));
    expect(chartLabel(history.series()[0])).toBe(
      'GPU0 (NVIDIA A100-SXM4-40GB): utilization 42%, memory 3.0 of 40.0 GiB (8%); ' +
        'chart of the last 2 samples'
    );
  });
});

describe('GpuStatusWidget as a button', () => {
  function model() {
    return new GpuStatusModel({
      fetch: async () => a100Sample(),
      scheduler: new ManualScheduler(),
      visibility: new FakeVisibility()
    });
  }

  it('is focusable, labelled, and activated by click, Enter and Space', async () => {
    const gpu = model();
    const onActivate = vi.fn();
    const widget = new GpuStatusWidget(gpu, { onActivate });
    Widget.attach(widget, document.body);
    gpu.start();
    await flush();
    const node = widget.node;
    expect(node.tabIndex).toBe(0);
    expect(node.getAttribute('role')).toBe('button');
    expect(node.getAttribute('aria-label')).toBe('GPU0 37% 1.0/40.0 GiB. Open the GPU panel');
    node.click();
    const enter = new KeyboardEvent('keydown', { key: 'Enter', cancelable: true });
    node.dispatchEvent(enter);
    const space = new KeyboardEvent('keydown', { key: ' ', cancelable: true });
    node.dispatchEvent(space);
    node.dispatchEvent(new KeyboardEvent('keydown', { key: 'a' }));
    expect(onActivate).toHaveBeenCalledTimes(3);
    expect(space.defaultPrevented).toBe(true);
    gpu.stop();
  });

  it('stays plain text without an action', () => {
    const widget = new GpuStatusWidget(model());
    expect(widget.node.hasAttribute('role')).toBe(false);
    expect(widget.node.hasAttribute('tabindex')).toBe(false);
  });
});

describe('open-gpu-panel command', () => {
  function fakeApp() {
    const serverSettings = ServerConnection.makeSettings({
      baseUrl: 'http://hub.example/user/alice/',
      fetch: async () => new Response(JSON.stringify(a100Sample()), { status: 200 })
    });
    const added: Widget[] = [];
    const activated: string[] = [];
    const app = {
      commands: new CommandRegistry(),
      shell: {
        add: (widget: Widget) => {
          added.push(widget);
          Widget.attach(widget, document.body);
        },
        activateById: (id: string) => activated.push(id)
      },
      serviceManager: { serverSettings }
    } as unknown as JupyterFrontEnd;
    return { app, added, activated };
  }

  it('opens one panel from the status item or the palette, then re-activates it', async () => {
    const { app, added, activated } = fakeApp();
    let item: IStatusBar.IItem | undefined;
    const statusBar = {
      registerStatusItem: (_id: string, options: IStatusBar.IItem) => {
        item = options;
        return { dispose: () => undefined, isDisposed: false };
      }
    } as unknown as IStatusBar;
    const palette = { addItem: vi.fn() } as unknown as ICommandPalette;
    const plugin = gpuStatusPlugin as JupyterFrontEndPlugin<GpuStatusModel>;
    const gpu = await plugin.activate(app, statusBar, null, palette);
    expect(palette.addItem).toHaveBeenCalledWith({ command: OPEN_GPU_PANEL, category: 'JupyterHub' });
    await vi.waitFor(() => expect(gpu.available).toBe(true));

    item?.item.node.click();
    await vi.waitFor(() => expect(activated).toEqual([GPU_PANEL_ID]));
    expect(added).toHaveLength(1);
    // the history was fed by the poller before the panel existed
    expect(added[0].node.querySelectorAll('svg[role="img"]')).toHaveLength(1);

    await app.commands.execute(OPEN_GPU_PANEL);
    expect(added).toHaveLength(1);
    expect(activated).toEqual([GPU_PANEL_ID, GPU_PANEL_ID]);

    added[0].dispose(); // closed by the user
    await app.commands.execute(OPEN_GPU_PANEL);
    expect(added).toHaveLength(2);
    gpu.stop();
  });
});
