/**
 * Loaded into the benchmarked server with --import (bench/server.ts, `probeEventLoop`): watches the server's own
 * event loop and answers over the IPC channel, so the load generator's loop is not what is measured.
 * Messages: 'event-loop:reset' starts a new window; 'event-loop:read' answers with the window's delays in ms
 * (how late a 1 ms timer fired: max is the longest stall).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const histogram = monitorEventLoopDelay({ resolution: 1 });
histogram.enable();

process.on('message', (message) => {
  if (message === 'event-loop:reset') {
    histogram.reset();
    process.send?.({ type: 'event-loop', reset: true });
  } else if (message === 'event-loop:read') {
    process.send?.({ type: 'event-loop', maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, meanMs: histogram.mean / 1e6 });
  }
});
