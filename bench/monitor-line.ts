/** How bench/loop-monitor.ts marks its report lines on the measured process's stdout. */
export const MONITOR_LINE_PREFIX = 'bench-monitor ';
