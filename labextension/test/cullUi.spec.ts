// @vitest-environment jsdom
import type { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { describe, expect, it } from 'vitest';

import { IKeepResponse, ImagineApiError } from '../src/api';
import { COUNTDOWN_ID, CullCountdownWidget } from '../src/cullCountdown';
import { CullNotifier, INotifier } from '../src/cullNotifier';
import { CullWarningModel } from '../src/cullWarning';
import { ManualScheduler, flush, idleWarning } from './helpers';

const hhmm = (epoch: number): string => new Date(epoch * 1000).toISOString().slice(11, 16);

/** Records what would have been shown, like JupyterLab's Notification namespace. */
class RecordingNotifier implements INotifier {
  shown = new Map<string, { type: string; message: string; options: Notification.IOptions<never> }>();
  log: string[] = [];
  private _next = 1;

  private _add(type: string, message: string, options: Notification.IOptions<never> = {}): string {
    const id = `n${this._next++}`;
    this.shown.set(id, { type, message, options });
    this.log.push(`${type}: ${message}`);
    return id;
  }
  warning(message: string, options?: Notification.IOptions<never>): string {
    return this._add('warning', message, options);
  }
  info(message: string, options?: Notification.IOptions<never>): string {
    return this._add('info', message, options);
  }
  error(message: string, options?: Notification.IOptions<never>): string {
    return this._add('error', message, options);
  }
  update(args: Notification.IUpdate<never>): boolean {
    this.shown.set(args.id, {
      type: args.type ?? 'default',
      message: args.message ?? '',
      options: { autoClose: args.autoClose, actions: args.actions }
    });
    this.log.push(`update ${args.id}: ${args.message}`);
    return true;
  }
  dismiss(id?: string): void {
    this.shown.delete(id ?? '');
    this.log.push(`dismiss ${id}`);
  }
  labels(id: string | null): string[] {
    return (this.shown.get(id ?? '')?.options.actions ?? []).map(a => a.label);
  }
  click(id: string | null, label: string): boolean {
    const action = this.shown.get(id ?? '')?.options.actions?.find(a => a.label === label);
    const event = new MouseEvent('click', { cancelable: true });
    action?.callback(event);
    return event.defaultPrevented;
  }
}

function setup(answers: Array<IKeepResponse | Error> = []) {
  let nowMs = 1732202400_000; // 10 minutes before the stop
  const model = new CullWarningModel({
    keep: async () => {
      const next = answers.shift();
      if (!next || next instanceof Error) {
        throw next ?? new Error('none');
      }
      return next;
    },
    now: () => nowMs
  });
  const notifier = new RecordingNotifier();
  let stops = 0;
  const cull = new CullNotifier(model, {
    notifier,
    saveAndStop: () => stops++,
    timeFormat: hhmm
  });
  return {
    model,
    notifier,
    cull,
    stops: () => stops,
    advance: (ms: number) => (nowMs += ms)
  };
}

describe('CullNotifier', () => {
  it('shows one persistent warning toast with both answers', () => {
    const { model, notifier, cull, stops } = setup();
    model.update(idleWarning('idle'));
    model.update(idleWarning('idle'));
    expect(notifier.log).toEqual([
      'warning: The GPU has been idle: this server will stop at 15:30. Save your work.'
    ]);
    expect(notifier.shown.get(cull.id!)?.options.autoClose).toBe(false);
    expect(notifier.labels(cull.id)).toEqual(['Keep my GPU', 'Save and stop']);
    notifier.click(cull.id, 'Save and stop');
    expect(stops()).toBe(1);
  });

  it('turns the toast into the answer after keep, without the keep button', async () => {
    const kept = {
      ...idleWarning('idle'),
      postponements_left: 1,
      keep_requested_at: 1732202400,
      stop_at: 1732206000
    };
    const { model, notifier, cull } = setup([{ warning: kept, keep_requested_at: 1732202400 }]);
    model.update(idleWarning('idle'));
    const id = cull.id;
    // the toast stays open while the answer travels
    expect(notifier.click(id, 'Keep my GPU')).toBe(true);
    await flush();
    expect(cull.id).toBe(id);
    expect(notifier.shown.get(id!)?.message).toBe(
      'GPU kept: this server now stops at 16:20 unless the GPU is used.'
    );
    expect(notifier.labels(id)).toEqual(['Save and stop']);
  });

  it("shows the server's refusal as an error that stays", async () => {
    const refusal = 'This server has used all its postponements: save your work.';
    const { model, notifier, cull } = setup([
      new ImagineApiError(refusal, 409, 'no-postponements-left')
    ]);
    model.update(idleWarning('idle'));
    await cull.keep();
    const errors = [...notifier.shown.values()].filter(n => n.type === 'error');
    expect(errors.map(e => [e.message, e.options.autoClose])).toEqual([[refusal, false]]);
  });

  it('offers no keep once postponements are used up', () => {
    const { model, notifier, cull } = setup();
    model.update({ ...idleWarning('idle'), postponements_left: 0 });
    expect(notifier.labels(cull.id)).toEqual(['Save and stop']);
  });

  it('withdraws the toast when the warning goes away, and says so', () => {
    const { model, notifier, cull } = setup();
    model.update(idleWarning('idle'));
    const id = cull.id;
    model.update(null);
    expect(cull.id).toBeNull();
    expect(notifier.shown.has(id!)).toBe(false);
    expect(notifier.log[notifier.log.length - 1]).toBe(
      'info: The GPU stop was cancelled: this server keeps running.'
    );
  });

  it('replaces the toast for a new warning and re-shows on request', () => {
    const { model, notifier, cull } = setup();
    model.update(idleWarning('idle'));
    const first = cull.id;
    model.update({ ...idleWarning('idle'), issued_at: 1732202000 });
    expect(cull.id).not.toBe(first);
    expect(notifier.shown.has(first!)).toBe(false);
    cull.show();
    expect(notifier.shown.size).toBe(1);
  });

  it('says when the server is gone', () => {
    const { model, notifier, cull } = setup();
    model.update(idleWarning('idle'));
    const id = cull.id;
    cull.serverGone();
    expect(notifier.shown.get(id!)?.message).toBe('This server has stopped.');
    expect(notifier.labels(id)).toEqual([]);
  });
});

describe('CullCountdownWidget', () => {
  it('is a hidden button until warned, then a labelled ticking countdown', () => {
    const { model, advance } = setup();
    const scheduler = new ManualScheduler();
    let activated = 0;
    const widget = new CullCountdownWidget(model, {
      onActivate: () => activated++,
      scheduler,
      timeFormat: hhmm
    });
    Widget.attach(widget, document.body);
    const node = document.getElementById(COUNTDOWN_ID) as HTMLButtonElement;
    expect(node.tagName).toBe('BUTTON');
    expect(node.hidden).toBe(true);
    expect(scheduler.pending).toEqual([]);

    model.update(idleWarning('GPU idle for 00:30:00'));
    expect(node.hidden).toBe(false);
    expect(node.textContent).toBe('GPU idle: stops in 10:00');
    expect(node.getAttribute('aria-label')).toBe(
      'The GPU is idle: this server stops at 15:30, in 10:00. Show options.'
    );
    expect(node.title).toContain('GPU idle for 00:30:00');
    expect(node.querySelector('[role=timer]')).not.toBeNull();
    expect(node.classList.contains('imagine-mod-urgent')).toBe(false);

    advance(5 * 60_000 + 1000);
    scheduler.fire();
    expect(node.textContent).toBe('GPU idle: stops in 4:59');
    expect(node.classList.contains('imagine-mod-urgent')).toBe(true);
    expect(scheduler.pending).toEqual([1000]);

    node.click();
    expect(activated).toBe(1);

    model.update(null);
    expect(node.hidden).toBe(true);
    expect(scheduler.pending).toEqual([]);
    widget.dispose();
  });
});
