/**
 * The cutover dashboard: data read from the store (data.ts), assembled by pure
 * functions (model.ts), rendered as HTML with server-side SVG charts (render.ts,
 * svg.ts), served with its JSON API by a fastify plugin (plugin.ts).
 */
export { loadDashboard, readSnapshot, type SnapshotOptions } from './data.js';
export * from './model.js';
export { API_PREFIX, type DashboardPluginOptions, dashboardPlugin } from './plugin.js';
export { type PageOptions, renderMain, renderPage } from './render.js';
export { OverviewSchema } from './schemas.js';
