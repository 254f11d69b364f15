import { afterEach, describe, expect, it, vi } from 'vitest';

import { PresenceKind } from '../src/api';
import { PresenceReporter } from '../src/presence';

function setup(options: { minInterval?: number; trustedOnly?: boolean } = {}) {
  let now = 1_000_000;
  const sent: PresenceKind[] = [];
  const reporter = new PresenceReporter({
    send: async kind => {
      sent.push(kind);
    },
    now: () => now,
    ...options
  });
  return {
    reporter,
    sent,
    advance: (ms: number) => {
      now += ms;
    }
  };
}

function targets() {
  return { document: new EventTarget(), window: new EventTarget() };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('PresenceReporter rate limit', () => {
  it('sends at most one report per minute by default', () => {
    const { reporter, sent, advance } = setup();
    expect(reporter.minInterval).toBe(60_000);
    expect(reporter.report('key')).toBe(true);
    advance(1000);
    expect(reporter.report('click')).toBe(false);
    advance(58_999);
    expect(reporter.report('key')).toBe(false);
    advance(1);
    expect(reporter.report('focus')).toBe(true);
    expect(sent).toEqual(['key', 'focus']);
  });

  it('takes the interval from the constructor', () => {
    const { reporter, sent, advance } = setup({ minInterval: 5000 });
    reporter.report('key');
    advance(4999);
    reporter.report('key');
    advance(1);
    reporter.report('click');
    expect(sent).toEqual(['key', 'click']);
  });

  it('swallows send failures and still rate-limits', async () => {
    let now = 0;
    const send = vi.fn(async () => {
      throw new Error('server gone');
    });
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => undefined);
    const reporter = new PresenceReporter({ send, now: () => now });
    expect(reporter.report('key')).toBe(true);
    now += 10;
    expect(reporter.report('key')).toBe(false);
    await Promise.resolve();
    await Promise.resolve();
    expect(send).toHaveBeenCalledTimes(1);
    expect(debug).toHaveBeenCalled();
  });
});

describe('PresenceReporter listeners', () => {
  it('maps keydown, pointerdown and window focus to kinds', () => {
    const t = targets();
    const { reporter, sent, advance } = setup({ trustedOnly: false });
    reporter.connect(t);
    t.document.dispatchEvent(new Event('keydown'));
    advance(60_000);
    t.document.dispatchEvent(new Event('pointerdown'));
    advance(60_000);
    t.window.dispatchEvent(new Event('focus'));
    expect(sent).toEqual(['key', 'click', 'focus']);
  });

  it('ignores events created by scripts by default', () => {
    const t = targets();
    const { reporter, sent } = setup();
    reporter.connect(t);
    t.document.dispatchEvent(new Event('keydown'));
    t.window.dispatchEvent(new Event('focus'));
    expect(sent).toEqual([]);
  });

  it('counts focus of the window, not of elements inside it', () => {
    const t = targets();
    const element = new EventTarget();
    const { reporter, sent } = setup({ trustedOnly: false });
    reporter.connect(t);
    // What a focus event on an element looks like when it reaches the window.
    const elementFocus = new Event('focus');
    Object.defineProperty(elementFocus, 'target', { value: element });
    t.window.dispatchEvent(elementFocus);
    expect(sent).toEqual([]);
    t.window.dispatchEvent(new Event('focus'));
    expect(sent).toEqual(['focus']);
  });

  it('ignores unrelated events', () => {
    const t = targets();
    const { reporter, sent } = setup({ trustedOnly: false });
    reporter.connect(t);
    for (const type of ['mousemove', 'scroll', 'visibilitychange', 'blur']) {
      t.document.dispatchEvent(new Event(type));
      t.window.dispatchEvent(new Event(type));
    }
    expect(sent).toEqual([]);
  });

  it('stops listening when disconnected', () => {
    const t = targets();
    const { reporter, sent } = setup({ trustedOnly: false });
    const disconnect = reporter.connect(t);
    disconnect();
    t.document.dispatchEvent(new Event('keydown'));
    expect(sent).toEqual([]);
  });

  it('never reports on its own: no timers, however long the page stays open', () => {
    vi.useFakeTimers();
    const t = targets();
    const send = vi.fn(async () => undefined);
    const reporter = new PresenceReporter({ send, trustedOnly: false });
    reporter.connect(t);
    vi.advanceTimersByTime(24 * 3600 * 1000);
    expect(vi.getTimerCount()).toBe(0);
    expect(send).not.toHaveBeenCalled();
  });
});
