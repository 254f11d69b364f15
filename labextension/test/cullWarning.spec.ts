import { describe, expect, it } from 'vitest';

import { IGpuWarning, IKeepResponse, ImagineApiError } from '../src/api';
import {
  CullWarningModel,
  WarningChange,
  canKeep,
  formatCountdown,
  formatDuration,
  keepExplanation,
  notificationMessage,
  secondsLeft
} from '../src/cullWarning';
import { idleWarning } from './helpers';

const hhmm = (epoch: number): string => new Date(epoch * 1000).toISOString().slice(11, 16);

function modelWith(answers: Array<IKeepResponse | Error>, nowMs = 1732202400_000) {
  const sent: number[] = [];
  const model = new CullWarningModel({
    keep: async () => {
      sent.push(1);
      const next = answers.shift();
      if (!next || next instanceof Error) {
        throw next ?? new Error('no answer');
      }
      return next;
    },
    now: () => nowMs
  });
  const changes: WarningChange[] = [];
  let statusChanges = 0;
  model.changed.connect((_, change) => changes.push(change));
  model.statusChanged.connect(() => statusChanges++);
  return { model, sent, changes, statusChanges: () => statusChanges };
}

describe('countdown formatting', () => {
  it('counts like a kitchen timer', () => {
    expect(formatCountdown(0)).toBe('0:00');
    expect(formatCountdown(59.9)).toBe('0:59');
    expect(formatCountdown(605)).toBe('10:05');
    expect(formatCountdown(3600)).toBe('1:00:00');
    expect(formatCountdown(3725)).toBe('1:02:05');
    expect(formatCountdown(-5)).toBe('0:00');
  });

  it('never shows negative time left and rounds up partial seconds', () => {
    const warning = idleWarning('idle');
    expect(secondsLeft(warning, warning.stop_at * 1000 - 1500)).toBe(2);
    expect(secondsLeft(warning, warning.stop_at * 1000 + 60_000)).toBe(0);
  });

  it('names postponements in hours or minutes', () => {
    expect(formatDuration(3600)).toBe('1 hour');
    expect(formatDuration(7200)).toBe('2 hours');
    expect(formatDuration(1800)).toBe('30 minutes');
    expect(formatDuration(60)).toBe('1 minute');
  });
});

describe('warning words', () => {
  it('says when and why, short enough for a toast', () => {
    const warning = idleWarning('GPU idle for 00:30:00 (below 5%): warned, stop in 00:15:00');
    const message = notificationMessage(warning, hhmm);
    expect(message).toBe(
      'The GPU has been idle: this server will stop at 15:30. Save your work.'
    );
    expect(message.length).toBeLessThanOrEqual(140);
  });

  it('confirms a keep answer with the new stop time', () => {
    const warning = { ...idleWarning('idle'), keep_requested_at: 1732202400, stop_at: 1732206000 };
    expect(notificationMessage(warning, hhmm)).toBe(
      'GPU kept: this server now stops at 16:20 unless the GPU is used.'
    );
  });

  it('explains what keep does, and when it no longer can', () => {
    const warning = idleWarning('idle');
    expect(keepExplanation(warning)).toContain('postpones the stop by 1 hour (2 times left)');
    expect(keepExplanation({ ...warning, postponements_left: 1 })).toContain('(1 time left)');
    expect(keepExplanation({ ...warning, postponements_left: 0 })).toContain(
      'No postponements are left'
    );
    expect(keepExplanation({ ...warning, keep_requested_at: 1 })).toContain('answer was received');
  });

  it('offers keep only while postponements remain and no answer is pending', () => {
    const warning = idleWarning('idle');
    expect(canKeep(null)).toBe(false);
    expect(canKeep(warning)).toBe(true);
    expect(canKeep({ ...warning, postponements_left: 0 })).toBe(false);
    expect(canKeep({ ...warning, keep_requested_at: 1732202400 })).toBe(false);
  });
});

describe('CullWarningModel', () => {
  it('tells new, updated and cleared warnings apart and ignores repeats', () => {
    const { model, changes, statusChanges } = modelWith([]);
    const warning = idleWarning('idle');
    model.update(null);
    model.update(warning);
    model.update({ ...warning });
    model.update({ ...warning, stop_at: warning.stop_at + 60 });
    model.update({ ...warning, issued_at: warning.issued_at + 3600 });
    model.update(null);
    model.update(null);
    expect(changes).toEqual(['new', 'updated', 'new', 'cleared']);
    expect(statusChanges()).toBe(4);
    expect(model.warning).toBeNull();
    expect(model.secondsLeft()).toBeNull();
  });

  it('keeps a copy, so later mutation of the sample cannot change it', () => {
    const { model } = modelWith([]);
    const warning = idleWarning('idle');
    model.update(warning);
    warning.stop_at = 0;
    expect(model.warning?.stop_at).toBe(1732203000);
    expect(model.secondsLeft()).toBe(600);
  });

  it('takes the server answer to keep as the new warning', async () => {
    const kept: IGpuWarning = {
      ...idleWarning('idle'),
      postponements_left: 1,
      keep_requested_at: 1732202400,
      stop_at: 1732206000
    };
    const { model, sent, changes } = modelWith([{ warning: kept, keep_requested_at: 1732202400 }]);
    model.update(idleWarning('idle'));
    expect(model.canKeep).toBe(true);
    const pending = model.keep();
    expect(model.keeping).toBe(true);
    expect(model.canKeep).toBe(false);
    expect(await pending).toEqual({ ok: true, warning: kept });
    expect(sent).toHaveLength(1);
    expect(model.warning).toEqual(kept);
    expect(model.canKeep).toBe(false);
    expect(changes).toEqual(['new', 'updated']);
  });

  it("returns the server's message when it refuses", async () => {
    const message = 'This server has used all its postponements: save your work.';
    const { model } = modelWith([new ImagineApiError(message, 409, 'no-postponements-left')]);
    model.update(idleWarning('idle'));
    expect(await model.keep()).toEqual({ ok: false, message });
    // still warned: the stop is still coming
    expect(model.warning).not.toBeNull();
    expect(model.keeping).toBe(false);
  });

  it('drops a warning the server no longer has', async () => {
    const { model, changes } = modelWith([
      new ImagineApiError('There is no pending GPU warning to answer.', 409, 'no-warning')
    ]);
    model.update(idleWarning('idle'));
    const outcome = await model.keep();
    expect(outcome).toEqual({ ok: false, message: 'There is no pending GPU warning to answer.' });
    expect(model.warning).toBeNull();
    expect(changes).toEqual(['new', 'cleared']);
  });

  it('sends one answer at a time', async () => {
    const { model, sent } = modelWith([{ warning: idleWarning('idle'), keep_requested_at: 1 }]);
    model.update(idleWarning('idle'));
    const first = model.keep();
    const second = await model.keep();
    expect(second.ok).toBe(false);
    await first;
    expect(sent).toHaveLength(1);
  });
});
