/** Liveness and readiness (/health, /ready), and the count of their answers for the statistics page. */
export { createHealthRouter, createProbeCounter, type ModelsStatus, type ProbeCount, type ProbeCounter } from './health.routes.js';
