import { randomUUID } from 'node:crypto';
import type * as AzureFunctions from '@azure/functions';
import type { FunctionsCoreRegistry, TimerFunctionRegistration } from './functions-core.js';
import { callWithHooks, contextOptionsFor, describeError, type HostLog } from './invocation.js';
import { parseTimerSchedule, type TimerSchedule } from './timer-schedule.js';

/** The clock timers run on: injected in tests so a schedule can be driven without waiting. */
export interface TimerClock {
  now(): number;
  /** Calls `callback` after `delayMs`; returns how to cancel it. */
  schedule(callback: () => void, delayMs: number): () => void;
}

export const systemTimerClock: TimerClock = {
  now: Date.now,
  schedule(callback, delayMs) {
    // setTimeout holds at most ~24.8 days; a longer wait is taken in steps by the caller re-checking.
    const timer = setTimeout(callback, Math.min(delayMs, 2 ** 31 - 1));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface TimerRunner {
  /** Stops scheduling and waits for running invocations. */
  stop(): Promise<void>;
}

interface Running {
  registration: TimerFunctionRegistration;
  schedule: TimerSchedule;
  /** When the invocation now waited for is due. */
  dueMs: number;
  cancel?: () => void;
  active?: Promise<void>;
}

/**
 * Runs the app's timer functions on their schedules, as the Functions host does on one instance: each fires at
 * its next occurrence with the `Timer` argument ({ isPastDue, schedule, scheduleStatus }); an invocation still
 * running when the next occurrence comes is not doubled (that occurrence is skipped, the next one waited for).
 */
export function startTimers(
  registrations: readonly TimerFunctionRegistration[],
  options: { lib: typeof AzureFunctions; registry: FunctionsCoreRegistry; log: HostLog; clock?: TimerClock },
): TimerRunner {
  const clock = options.clock ?? systemTimerClock;
  let stopped = false;
  const timers: Running[] = registrations.map((registration) => {
    const schedule = parseTimerSchedule(registration.schedule);
    return { registration, schedule, dueMs: schedule.next(clock.now()) };
  });

  const invoke = async (timer: Running, lastMs: number | undefined, pastDue: boolean): Promise<void> => {
    const context = new options.lib.InvocationContext({
      invocationId: randomUUID(),
      ...contextOptionsFor(timer.registration, options.log),
    });
    const input = {
      isPastDue: pastDue,
      schedule: { adjustForDST: false },
      scheduleStatus: {
        last: lastMs === undefined ? '0001-01-01T00:00:00' : new Date(lastMs).toISOString(),
        next: new Date(timer.dueMs).toISOString(),
        lastUpdated: new Date(clock.now()).toISOString(),
      },
    };
    const { error } = await callWithHooks(options.registry, timer.registration.handler, input, context);
    if (error !== null && error !== undefined) {
      options.log('error', `Timer function "${timer.registration.name}" failed: ${describeError(error)}`);
    }
  };

  const arm = (timer: Running): void => {
    if (stopped) return;
    timer.cancel = clock.schedule(() => fire(timer), Math.max(0, timer.dueMs - clock.now()));
  };

  const fire = (timer: Running): void => {
    if (stopped) return;
    const nowMs = clock.now();
    if (nowMs < timer.dueMs) {
      // A wait longer than setTimeout holds ends early: wait again.
      arm(timer);
      return;
    }
    const firedMs = timer.dueMs;
    timer.dueMs = timer.schedule.next(nowMs);
    if (!timer.active) {
      // Past due when the occurrence fired later than one more would have been due (the process was suspended).
      const pastDue = timer.schedule.next(firedMs) <= nowMs;
      timer.active = invoke(timer, firedMs, pastDue).finally(() => {
        timer.active = undefined;
      });
    }
    arm(timer);
  };

  for (const timer of timers) {
    if (timer.registration.runOnStartup) {
      timer.active = invoke(timer, undefined, false).finally(() => {
        timer.active = undefined;
      });
    }
    arm(timer);
  }
  return {
    async stop() {
      stopped = true;
      for (const timer of timers) timer.cancel?.();
      await Promise.all(timers.map((timer) => timer.active));
    },
  };
}
