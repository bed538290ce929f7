import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoTime } from '../../src/credential-broker/audit.js';

// The broker logger formats its timestamp once per millisecond; lines must read as pino's own isoTime.
describe('isoTime', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes what pino.stdTimeFunctions.isoTime writes, and moves on with the clock', () => {
    vi.useFakeTimers({ now: new Date('2026-11-23T17:21:41.894Z'), toFake: ['Date'] });
    expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
    expect(isoTime()).toBe(',"time":"2026-11-23T17:21:41.894Z"');
    vi.setSystemTime(new Date('2026-11-23T17:21:41.895Z'));
    expect(isoTime()).toBe(',"time":"2026-11-23T17:21:41.895Z"');
    vi.setSystemTime(new Date('2027-01-01T00:00:00.000Z'));
    expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
  });
});
