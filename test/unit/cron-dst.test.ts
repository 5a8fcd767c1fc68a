import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cronSchedule } from '../../lib/triggers/trigger-cron-job';

/**
 * The 2026 transitions, with the instants Vixie cron semantics give, worked out
 * by hand from each zone's rules (not from a library):
 * - a job at a fixed local time runs once a day: in a repeated hour at its
 *   first occurrence, and right after the gap when its time is skipped;
 * - jobs whose hour is a wildcard or a step stay on their local grid, and run
 *   at every real instant that matches (both passes of a repeated hour).
 */
const TABLE: { zone: string; expression: string; from: string; expected: string[]; why: string }[] = [
  // New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
  { zone: 'America/New_York', expression: '30 2 * * *', from: '2026-03-08T04:00:00Z', expected: ['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z'], why: 'spring gap: 03:00 EDT, then 02:30 EDT' },
  { zone: 'America/New_York', expression: '30 2 * * *', from: '2026-11-01T04:00:00Z', expected: ['2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z'], why: 'fall back: once, 02:30 EST (never 01:30 EST)' },
  { zone: 'America/New_York', expression: '30 1 * * *', from: '2026-11-01T04:00:00Z', expected: ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'], why: 'repeated 01:30: the first (EDT) only' },
  { zone: 'America/New_York', expression: '0 */2 * * *', from: '2026-11-01T03:00:00Z', expected: ['2026-11-01T04:00:00.000Z', '2026-11-01T07:00:00.000Z', '2026-11-01T09:00:00.000Z'], why: '00:00 EDT, 02:00 EST, 04:00 EST: on the local grid, never 01:00 or 03:00' },
  { zone: 'America/New_York', expression: '*/20 * * * *', from: '2026-11-01T05:50:00Z', expected: ['2026-11-01T06:00:00.000Z', '2026-11-01T06:20:00.000Z', '2026-11-01T06:40:00.000Z', '2026-11-01T07:00:00.000Z'], why: 'the repeated 01:xx runs on the grid in both passes' },
  // Paris: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
  { zone: 'Europe/Paris', expression: '30 2 * * *', from: '2026-03-28T23:00:00Z', expected: ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'], why: 'spring gap: 03:00 CEST' },
  { zone: 'Europe/Paris', expression: '0 3 * * *', from: '2026-10-24T22:00:00Z', expected: ['2026-10-25T02:00:00.000Z', '2026-10-26T02:00:00.000Z'], why: 'fall back: once, 03:00 CET (never 02:00 CET)' },
  // Sydney (southern hemisphere, in DST on 1 January): 2026-04-05 03:00 AEDT -> 02:00 AEST; 2026-10-04 02:00 AEST -> 03:00 AEDT.
  { zone: 'Australia/Sydney', expression: '30 2 * * *', from: '2026-04-04T13:00:00Z', expected: ['2026-04-04T15:30:00.000Z', '2026-04-05T16:30:00.000Z'], why: 'repeated 02:30: the first (AEDT) only' },
  { zone: 'Australia/Sydney', expression: '30 2 * * *', from: '2026-10-03T14:00:00Z', expected: ['2026-10-03T16:00:00.000Z', '2026-10-04T15:30:00.000Z'], why: 'spring gap: 03:00 AEDT' },
  // Lord Howe, a 30-minute shift: 2026-04-05 02:00 (+11) -> 01:30 (+10:30); 2026-10-04 02:00 (+10:30) -> 02:30 (+11).
  { zone: 'Australia/Lord_Howe', expression: '30 2 * * *', from: '2026-04-04T13:00:00Z', expected: ['2026-04-04T16:00:00.000Z', '2026-04-05T16:00:00.000Z'], why: 'once a day (never three times)' },
  { zone: 'Australia/Lord_Howe', expression: '15 2 * * *', from: '2026-04-04T13:00:00Z', expected: ['2026-04-04T15:45:00.000Z', '2026-04-05T15:45:00.000Z'], why: 'once, 02:15 (+10:30), never 01:45 or 02:45' },
  { zone: 'Australia/Lord_Howe', expression: '15 2 * * *', from: '2026-10-03T13:00:00Z', expected: ['2026-10-03T15:30:00.000Z', '2026-10-04T15:15:00.000Z'], why: 'spring gap 02:00-02:30: 02:30 (+11)' },
  // Tokyo: no DST.
  { zone: 'Asia/Tokyo', expression: '30 2 * * *', from: '2026-10-31T15:00:00Z', expected: ['2026-10-31T17:30:00.000Z', '2026-11-01T17:30:00.000Z'], why: 'every day alike' },
  // Seconds (6 fields).
  { zone: 'America/New_York', expression: '15 30 2 * * *', from: '2026-03-08T04:00:00Z', expected: ['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:15.000Z'], why: 'spring gap with seconds: right after the gap' },
];

describe('cron schedules across the 2026 daylight-saving transitions', () => {
  for (const { zone, expression, from, expected, why } of TABLE) {
    it(`${zone} '${expression}' from ${from}: ${why}`, () => {
      const schedule = cronSchedule(expression, zone);
      try {
        assert.deepEqual(schedule.nextRuns(expected.length, new Date(from)).map((date) => date.toISOString()), expected);
      } finally {
        schedule.stop();
      }
    });
  }
});
