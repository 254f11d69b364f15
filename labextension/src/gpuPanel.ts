/**
 * The GPU panel: one small live chart per GPU or MIG instance (utilization
 * and memory over the last samples), drawn as inline SVG from a GpuHistory.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { GpuStatusModel } from './gpu';
import { SIMULATED_NOTE, formatGiB, formatUtilization } from './gpuFormat';
import { GpuHistory, IGpuSeries } from './gpuHistory';

/** DOM id of the panel (the MainAreaWidget). */
export const GPU_PANEL_ID = 'imagine-gpu-panel';

/** Size of a chart's drawing area in SVG user units (it scales to the panel). */
export const CHART_WIDTH = 300;
export const CHART_HEIGHT = 80;

const SVG_NS = 'http://www.w3.org/2000/svg';

/** One decimal at most, without trailing zeros: short `d` attributes. */
function num(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/**
 * SVG path data for values in 0-1 (null = unknown) on a width × height box,
 * y growing downwards. The newest value sits at the right edge and each
 * sample takes width / (capacity - 1), so a chart scrolls left as samples
 * arrive. Unknown values break the line; a lone point is drawn as a dot
 * (a zero-length segment, visible with round line caps).
 */
export function linePath(
  values: ReadonlyArray<number | null>,
  capacity: number,
  width = CHART_WIDTH,
  height = CHART_HEIGHT
): string {
  const slots = Math.max(capacity, values.length);
  const step = slots > 1 ? width / (slots - 1) : 0;
  const offset = slots - values.length;
  const parts: string[] = [];
  let open = false;
  values.forEach((value, i) => {
    if (value === null || !Number.isFinite(value)) {
      open = false;
      return;
    }
    const x = num((offset + i) * step);
    const y = num(height * (1 - Math.min(Math.max(value, 0), 1)));
    const next = values[i + 1];
    const lone = !open && (next === undefined || next === null);
    parts.push(`${open ? 'L' : 'M'}${x} ${y}${lone ? 'h0' : ''}`);
    open = true;
  });
  return parts.join(' ');
}

/** The sentence a screen reader reads for a chart: the latest values. */
export function chartLabel(series: IGpuSeries): string {
  const latest = series.points[series.points.length - 1];
  const utilization = formatUtilization(latest?.utilization ?? null);
  const percent = Math.round((latest?.memory ?? 0) * 100);
  const memory =
    `memory ${formatGiB(series.memoryUsed)} of ${formatGiB(series.memoryTotal)} GiB ` +
    `(${percent}%)`;
  const count = series.points.length;
  return (
    `${series.label} (${series.name}): utilization ${utilization}, ${memory}; ` +
    `chart of the last ${count} ${count === 1 ? 'sample' : 'samples'}`
  );
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string>
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, value);
  }
  return element;
}

/** The DOM of one chart, kept across updates so focus and reading position survive. */
class Chart {
  readonly node = document.createElement('figure');

  constructor(readonly key: string) {
    this.node.className = 'imagine-GpuChart';
    this.node.dataset.key = key;
    this._heading.className = 'imagine-GpuChart-title';
    this._values.className = 'imagine-GpuChart-values';
    this._svg.setAttribute('role', 'img');
    this._svg.classList.add('imagine-GpuChart-plot');
    // Grid: bottom, middle and top lines (0, 50 and 100 %).
    for (const y of [0, CHART_HEIGHT / 2, CHART_HEIGHT]) {
      this._svg.append(
        svg('line', {
          class: 'imagine-GpuChart-grid',
          x1: '0',
          x2: String(CHART_WIDTH),
          y1: String(y),
          y2: String(y),
          'vector-effect': 'non-scaling-stroke'
        })
      );
    }
    this._svg.append(this._memory, this._utilization);
    const caption = document.createElement('figcaption');
    caption.append(this._heading, this._values);
    this.node.append(caption, this._svg);
  }

  render(series: IGpuSeries, capacity: number): void {
    this._heading.textContent = `${series.label} · ${series.name}`;
    const latest = series.points[series.points.length - 1];
    const memory =
      `Memory ${formatGiB(series.memoryUsed)}/${formatGiB(series.memoryTotal)} GiB`;
    // a MIG instance has a utilization only where GPM measures it (Hopper and newer)
    const measured = !series.mig || series.points.some(p => p.utilization !== null);
    this._values.textContent = measured
      ? `Utilization ${formatUtilization(latest?.utilization ?? null)} · ${memory}`
      : `${memory} · utilization n/a`;
    this._svg.setAttribute('aria-label', chartLabel(series));
    this._memory.setAttribute('d', linePath(series.points.map(p => p.memory), capacity));
    this._utilization.setAttribute(
      'd',
      measured
        ? linePath(
            series.points.map(p => (p.utilization === null ? null : p.utilization / 100)),
            capacity
          )
        : ''
    );
    this._utilization.style.display = measured ? '' : 'none';
  }

  private readonly _heading = document.createElement('span');
  private readonly _values = document.createElement('span');
  private readonly _svg = svg('svg', {
    viewBox: `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`,
    preserveAspectRatio: 'none'
  });
  private readonly _memory = svg('path', {
    class: 'imagine-GpuChart-memory',
    'vector-effect': 'non-scaling-stroke'
  });
  private readonly _utilization = svg('path', {
    class: 'imagine-GpuChart-utilization',
    'vector-effect': 'non-scaling-stroke'
  });
}

/** The panel's content: a legend, then one chart per series of the history. */
export class GpuPanel extends Widget {
  constructor(
    readonly history: GpuHistory,
    readonly model?: GpuStatusModel
  ) {
    super();
    this.addClass('imagine-GpuPanel');
    this._legend.className = 'imagine-GpuPanel-legend';
    // The lines differ by dash as well as colour; the legend says which is which.
    this._legend.setAttribute('aria-hidden', 'true');
    for (const [kind, text] of [
      ['utilization', 'Utilization (%)'],
      ['memory', 'Memory used (%)']
    ]) {
      const item = document.createElement('span');
      item.className = `imagine-GpuPanel-key imagine-GpuPanel-key-${kind}`;
      item.textContent = text;
      this._legend.append(item);
    }
    this._message.className = 'imagine-GpuPanel-message';
    this._simulated.className = 'imagine-GpuPanel-simulated';
    this._simulated.textContent = SIMULATED_NOTE;
    this._charts.className = 'imagine-GpuPanel-charts';
    this.node.append(this._simulated, this._legend, this._message, this._charts);
    history.changed.connect(this._onChange, this);
    model?.changed.connect(this._onChange, this);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.history.changed.disconnect(this._onChange, this);
    this.model?.changed.disconnect(this._onChange, this);
    super.dispose();
  }

  protected onUpdateRequest(): void {
    this._render();
  }

  protected onAfterShow(): void {
    if (this._stale) {
      this.update();
    }
  }

  private _onChange(): void {
    // A panel in a background tab redraws when it is shown again.
    if (this.isVisible) {
      this.update();
    } else {
      this._stale = true;
    }
  }

  private _messageText(series: IGpuSeries[]): string {
    if (this.model?.state === 'stopped') {
      return 'The server is gone: these are the last numbers it reported.';
    }
    if (this.model?.data && !this.model.data.available) {
      return this.model.data.message || 'No GPU is assigned to this server.';
    }
    return series.length === 0 ? 'Waiting for the first GPU sample…' : '';
  }

  private _render(): void {
    this._stale = false;
    const series = this.history.series();
    const message = this._messageText(series);
    this._message.textContent = message;
    this._message.hidden = message === '';
    // a legend over no chart reads as a broken chart
    this._legend.hidden = series.length === 0;
    this._simulated.hidden = !this.model?.data?.simulated;
    const keep = new Set(series.map(s => s.key));
    for (const [key, chart] of this._chartByKey) {
      if (!keep.has(key)) {
        chart.node.remove();
        this._chartByKey.delete(key);
      }
    }
    for (const s of series) {
      let chart = this._chartByKey.get(s.key);
      if (!chart) {
        chart = new Chart(s.key);
        this._chartByKey.set(s.key, chart);
      }
      chart.render(s, this.history.capacity);
      this._charts.append(chart.node); // (re)appending keeps the sample's order
    }
  }

  private readonly _legend = document.createElement('div');
  private readonly _message = document.createElement('p');
  private readonly _simulated = document.createElement('p');
  private readonly _charts = document.createElement('div');
  private readonly _chartByKey = new Map<string, Chart>();
  private _stale = false;
}

/** The closable main-area tab "GPU" around a GpuPanel. */
export function createGpuPanel(
  history: GpuHistory,
  model?: GpuStatusModel
): MainAreaWidget<GpuPanel> {
  const panel = new MainAreaWidget({ content: new GpuPanel(history, model) });
  panel.id = GPU_PANEL_ID;
  panel.title.label = 'GPU';
  panel.title.caption = 'Utilization and memory of this server’s GPUs';
  panel.title.closable = true;
  panel.addClass('imagine-GpuPanelWidget');
  return panel;
}
