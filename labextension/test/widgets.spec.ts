// @vitest-environment jsdom
import { Widget } from '@lumino/widgets';
import { describe, expect, it, vi } from 'vitest';

import { IGpuResponse, ImagineApiError } from '../src/api';
import { GpuStatusModel } from '../src/gpu';
import { GPU_STATUS_ID, GpuStatusWidget } from '../src/gpuStatus';
import { PresenceReporter } from '../src/presence';
import { SHARE_BADGE_ID, SHARE_INPUT_ID, ShareLinkBody } from '../src/shareDialog';
import {
  FakeVisibility,
  ManualScheduler,
  NO_GPU,
  a100Sample,
  flush,
  idleWarning
} from './helpers';

function modelWith(responses: Array<IGpuResponse | Error>) {
  const scheduler = new ManualScheduler();
  const model = new GpuStatusModel({
    fetch: async () => {
      const next = responses.shift();
      if (next instanceof Error) {
        throw next;
      }
      return next ?? NO_GPU;
    },
    scheduler,
    visibility: new FakeVisibility(),
    maxGoneFailures: 1
  });
  return { model, scheduler };
}

describe('GpuStatusWidget', () => {
  it('renders utilization and memory under its DOM id', async () => {
    const { model } = modelWith([a100Sample()]);
    const widget = new GpuStatusWidget(model);
    Widget.attach(widget, document.body);
    model.start();
    await flush();
    const node = document.getElementById(GPU_STATUS_ID);
    expect(node).toBe(widget.node);
    expect(node?.textContent).toBe('GPU0 37% 1.0/40.0 GiB');
    expect(node?.hidden).toBe(false);
    expect(node?.title).toContain('NVIDIA A100-SXM4-40GB');
    widget.dispose();
  });

  it('is hidden when the server has no GPU', async () => {
    const { model } = modelWith([NO_GPU]);
    const widget = new GpuStatusWidget(model);
    model.start();
    await flush();
    expect(widget.node.hidden).toBe(true);
    expect(widget.node.textContent).toBe('');
  });

  it('marks the culler warning and hides once the server is gone', async () => {
    const { model, scheduler } = modelWith([
      a100Sample({ warning: idleWarning('Idle GPU') }),
      new ImagineApiError('gone', 410)
    ]);
    const widget = new GpuStatusWidget(model);
    model.start();
    await flush();
    expect(widget.hasClass('imagine-mod-warning')).toBe(true);
    expect(widget.node.title).toContain('Warning: Idle GPU. The server will be stopped at');
    scheduler.fire();
    await flush();
    expect(model.state).toBe('stopped');
    expect(widget.node.hidden).toBe(true);
  });
});

describe('ShareLinkBody', () => {
  const LINK = 'https://hub.example/hub/spawn?next=%2Fhub%2F';

  it('shows the link read-only with an accessible Copy button', () => {
    const copy = vi.fn();
    const body = new ShareLinkBody(LINK, 'explanation', copy);
    Widget.attach(body, document.body);
    const input = document.getElementById(SHARE_INPUT_ID) as HTMLInputElement;
    expect(input.value).toBe(LINK);
    expect(input.readOnly).toBe(true);
    expect(input.getAttribute('aria-label')).toBe('Share link');
    const button = body.node.querySelector('button') as HTMLButtonElement;
    expect(button.type).toBe('button');
    expect(button.textContent).toBe('Copy');
    expect(button.getAttribute('aria-label')).toBe('Copy the share link');
    button.click();
    expect(copy).toHaveBeenCalledWith(LINK);
    expect(body.node.querySelector('[role="status"]')?.textContent).toBe('Copied');
    body.dispose();
  });

  it('shows warnings first and a badge with its own Copy button for launch links', () => {
    const copy = vi.fn();
    const body = new ShareLinkBody(LINK, 'explanation', copy, {
      badge: '[![b](i)](l)',
      warnings: ['2 commits are not pushed']
    });
    Widget.attach(body, document.body);
    const alert = body.node.querySelector('[role="alert"]') as HTMLElement;
    expect(alert.textContent).toBe('2 commits are not pushed');
    expect(body.node.firstElementChild).toBe(alert);
    const badge = document.getElementById(SHARE_BADGE_ID) as HTMLInputElement;
    expect(badge.value).toBe('[![b](i)](l)');
    const copyBadge = body.node.querySelector(
      'button[aria-label="Copy the badge"]'
    ) as HTMLButtonElement;
    copyBadge.click();
    expect(copy).toHaveBeenCalledWith('[![b](i)](l)');
    expect(body.input.value).toBe(LINK);
    body.dispose();
  });

  it('has no warnings or badge for a path link', () => {
    const body = new ShareLinkBody(LINK, 'explanation', vi.fn());
    expect(body.node.querySelector('[role="alert"]')).toBeNull();
    expect(body.node.querySelector(`#${SHARE_BADGE_ID}`)).toBeNull();
    body.dispose();
  });
});

describe('PresenceReporter in a DOM', () => {
  it('does not take focus moved by script for a person arriving', () => {
    const send = vi.fn(async () => undefined);
    const reporter = new PresenceReporter({ send, trustedOnly: false });
    reporter.connect({ document, window });
    const input = document.createElement('input');
    document.body.append(input);
    input.focus();
    expect(document.activeElement).toBe(input);
    expect(send).not.toHaveBeenCalled();
    input.dispatchEvent(new KeyboardEvent('keydown', { bubbles: true }));
    expect(send).toHaveBeenCalledWith('key');
    reporter.dispose();
    input.remove();
  });
});
