/**
 * For the bench's own child processes: stop on SIGTERM/SIGINT, and also when the parent goes away
 * (its end of our stdin closes), so a killed bench never leaves servers behind.
 */
export function exitWithParent(close: () => Promise<void>): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(0), 2_000);
    force.unref();
    close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
