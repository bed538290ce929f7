/**
 * Charts as SVG strings, rendered on the server (no library, no CDN, works offline).
 * Pure functions: data in, markup out; every text is escaped.
 */

export function esc(s: string | number): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export const COLORS = {
  spire: '#2f855a',
  mesh: '#3182ce',
  other: '#a0aec0',
  issued: '#38a169',
  denied: '#e53e3e',
  errors: '#718096',
  overlap: '#d69e2e',
  expired: '#c53030',
  expiring: '#dd6b20',
  ok: '#4a5568',
  grid: '#e2e8f0',
  text: '#2d3748',
  muted: '#718096',
} as const;

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', sans-serif"`;

function n(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/** A one-line stacked bar: the share of workloads on SPIRE, on the mesh CA, and not classified. */
export function shareBar(
  parts: { spire: number; mesh: number; other: number },
  width = 180,
  height = 14,
): string {
  const total = parts.spire + parts.mesh + parts.other;
  const title = `${parts.spire} on SPIRE, ${parts.mesh} on the mesh CA${parts.other ? `, ${parts.other} other` : ''}`;
  if (total === 0) {
    return `<svg class="share" width="${width}" height="${height}" role="img" aria-label="no workloads"><rect width="${width}" height="${height}" rx="3" fill="${COLORS.grid}"/></svg>`;
  }
  let x = 0;
  const segs: string[] = [];
  for (const [key, value] of [
    ['spire', parts.spire],
    ['mesh', parts.mesh],
    ['other', parts.other],
  ] as const) {
    if (value === 0) continue;
    const w = (value / total) * width;
    segs.push(`<rect x="${n(x)}" width="${n(w)}" height="${height}" fill="${COLORS[key]}"/>`);
    x += w;
  }
  return `<svg class="share" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title><clipPath id="r${width}x${height}"><rect width="${width}" height="${height}" rx="3"/></clipPath><g clip-path="url(#r${width}x${height})">${segs.join('')}</g></svg>`;
}

export interface Series {
  name: string;
  color: string;
}

/** Stacked columns over time (broker issuances and denials per bucket). */
export function stackedColumns(
  buckets: { start: string; values: number[] }[],
  series: Series[],
  opts: { width?: number; height?: number; label?: string } = {},
): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 200;
  const left = 40;
  const right = 10;
  const top = 24;
  const bottom = 28;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = Math.max(1, ...buckets.map((b) => b.values.reduce((s, v) => s + v, 0)));
  const niceMax = niceCeil(max);
  const colW = plotW / Math.max(1, buckets.length);
  const out: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (niceMax * i) / 4;
    const y = top + plotH - (v / niceMax) * plotH;
    out.push(
      `<line x1="${left}" x2="${width - right}" y1="${n(y)}" y2="${n(y)}" stroke="${COLORS.grid}"/><text x="${left - 6}" y="${n(y + 4)}" text-anchor="end" font-size="10" fill="${COLORS.muted}">${esc(fmtCount(v))}</text>`,
    );
  }
  buckets.forEach((b, i) => {
    let y = top + plotH;
    const x = left + i * colW + colW * 0.12;
    const w = Math.max(1, colW * 0.76);
    const total = b.values.reduce((s, v) => s + v, 0);
    const tip = `${b.start.slice(11, 16)} UTC: ${series.map((s, k) => `${b.values[k] ?? 0} ${s.name}`).join(', ')}`;
    const rects: string[] = [];
    b.values.forEach((v, k) => {
      if (v <= 0) return;
      const h = (v / niceMax) * plotH;
      y -= h;
      rects.push(
        `<rect x="${n(x)}" y="${n(y)}" width="${n(w)}" height="${n(h)}" fill="${series[k]!.color}"/>`,
      );
    });
    if (total > 0) out.push(`<g><title>${esc(tip)}</title>${rects.join('')}</g>`);
  });
  const step = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((b, i) => {
    if (i % step !== 0) return;
    const x = left + i * colW + colW / 2;
    out.push(
      `<text x="${n(x)}" y="${height - 10}" text-anchor="middle" font-size="10" fill="${COLORS.muted}">${esc(b.start.slice(11, 16))}</text>`,
    );
  });
  out.push(legend(series, left, 14));
  return svg(width, height, opts.label ?? 'activity over time', out.join(''));
}

/** Horizontal stacked bars, one row per label (broker decisions by credential, by reason). */
export function horizontalBars(
  rows: { label: string; values: number[] }[],
  series: Series[],
  opts: { width?: number; rowHeight?: number; label?: string; labelWidth?: number } = {},
): string {
  const width = opts.width ?? 420;
  const rowH = opts.rowHeight ?? 22;
  const labelW = opts.labelWidth ?? 150;
  const top = series.length > 1 ? 22 : 4;
  const height = top + Math.max(1, rows.length) * rowH + 6;
  const plotW = width - labelW - 50;
  const max = Math.max(1, ...rows.map((r) => r.values.reduce((s, v) => s + v, 0)));
  const out: string[] = [];
  if (rows.length === 0) {
    out.push(`<text x="${labelW}" y="${top + 14}" font-size="12" fill="${COLORS.muted}">nothing yet</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(
      `<text x="${labelW - 8}" y="${y + rowH / 2 + 4}" text-anchor="end" font-size="12" fill="${COLORS.text}">${esc(truncate(r.label, 24))}</text>`,
    );
    let x = labelW;
    r.values.forEach((v, k) => {
      if (v <= 0) return;
      const w = Math.max(1, (v / max) * plotW);
      out.push(
        `<rect x="${n(x)}" y="${y + 3}" width="${n(w)}" height="${rowH - 6}" fill="${series[k]!.color}"><title>${esc(`${r.label}: ${v} ${series[k]!.name}`)}</title></rect>`,
      );
      x += w;
    });
    const total = r.values.reduce((s, v) => s + v, 0);
    out.push(
      `<text x="${n(x + 6)}" y="${y + rowH / 2 + 4}" font-size="11" fill="${COLORS.muted}">${esc(fmtCount(total))}</text>`,
    );
  });
  if (series.length > 1) out.push(legend(series, labelW, 14));
  return svg(width, height, opts.label ?? 'bars', out.join(''));
}

/** The static-key funnel: one centred bar per state, width by count. */
export function funnel(
  states: { state: string; count: number }[],
  opts: { width?: number; label?: string } = {},
): string {
  const width = opts.width ?? 420;
  const rowH = 30;
  const height = states.length * rowH + 8;
  const max = Math.max(1, ...states.map((s) => s.count));
  const palette = ['#805ad5', '#3182ce', '#319795', '#38a169', '#718096'];
  const out: string[] = [];
  states.forEach((s, i) => {
    const y = 4 + i * rowH;
    const minW = 36;
    const w = s.count === 0 ? minW : minW + ((width - 160 - minW) * s.count) / max;
    const x = 110 + (width - 160 - w) / 2;
    out.push(
      `<text x="100" y="${y + 19}" text-anchor="end" font-size="12" fill="${COLORS.text}">${esc(s.state)}</text>`,
      `<rect data-state="${esc(s.state)}" data-count="${s.count}" x="${n(x)}" y="${y + 2}" width="${n(w)}" height="${rowH - 6}" rx="4" fill="${palette[i % palette.length]}" opacity="${s.count === 0 ? 0.25 : 0.9}"><title>${esc(`${s.count} key(s) ${s.state}`)}</title></rect>`,
      `<text x="${n(x + w / 2)}" y="${y + 19}" text-anchor="middle" font-size="12" font-weight="600" fill="#fff">${s.count}</text>`,
    );
  });
  return svg(width, height, opts.label ?? 'static-key funnel', out.join(''));
}

export interface TimelineBar {
  label: string;
  start: number;
  end: number;
  color: string;
  dashed?: boolean;
  band?: boolean;
  note?: string;
}

/**
 * A timeline with a piecewise scale: the near term (the overlap windows, the next
 * expiries) gets most of the width, the years after it the rest. `now` is a line.
 */
export function timeline(
  bars: TimelineBar[],
  nowMs: number,
  opts: { width?: number; nearDays?: number; label?: string } = {},
): string {
  const width = opts.width ?? 1000;
  const labelW = 300;
  const right = 16;
  const rowH = 22;
  const top = 26;
  const plotW = width - labelW - right;
  const DAY = 86_400_000;
  const nearDays = opts.nearDays ?? 180;
  const t0 = Math.min(nowMs - 30 * DAY, ...bars.filter((b) => b.band).map((b) => b.start - 7 * DAY));
  const tNear = Math.max(nowMs + nearDays * DAY, ...bars.filter((b) => b.band).map((b) => b.end + 14 * DAY));
  const tEnd = Math.min(
    Math.max(tNear + 365 * DAY, ...bars.map((b) => b.end + 30 * DAY)),
    nowMs + 12 * 365 * DAY,
  );
  const split = labelW + plotW * 0.7;
  const x = (t: number): number => {
    if (t <= t0) return labelW;
    if (t <= tNear) return labelW + ((t - t0) / (tNear - t0)) * (split - labelW);
    if (t >= tEnd) return labelW + plotW;
    return split + ((t - tNear) / (tEnd - tNear)) * (labelW + plotW - split);
  };
  const height = top + Math.max(1, bars.length) * rowH + 10;
  const out: string[] = [];
  // Axis ticks: months in the near part, years after it.
  const ticks: { t: number; text: string }[] = [];
  const d = new Date(t0);
  d.setUTCDate(1);
  d.setUTCHours(0, 0, 0, 0);
  for (let m = new Date(d); m.getTime() <= tNear; m.setUTCMonth(m.getUTCMonth() + 1)) {
    if (m.getTime() >= t0) ticks.push({ t: m.getTime(), text: m.toISOString().slice(0, 7) });
  }
  for (
    let y = new Date(Date.UTC(new Date(tNear).getUTCFullYear() + 1, 0, 1));
    y.getTime() < tEnd;
    y.setUTCFullYear(y.getUTCFullYear() + 1)
  ) {
    ticks.push({ t: y.getTime(), text: String(y.getUTCFullYear()) });
  }
  const every = Math.max(1, Math.ceil(ticks.length / 12));
  ticks.forEach((tk, i) => {
    const xx = x(tk.t);
    out.push(
      `<line x1="${n(xx)}" x2="${n(xx)}" y1="${top - 4}" y2="${height - 6}" stroke="${COLORS.grid}"/>`,
    );
    if (i % every === 0) {
      out.push(
        `<text x="${n(xx + 2)}" y="${top - 8}" font-size="10" fill="${COLORS.muted}">${esc(tk.text)}</text>`,
      );
    }
  });
  out.push(
    `<rect x="${n(split)}" y="${top - 4}" width="${n(labelW + plotW - split)}" height="${height - top}" fill="#f7fafc" opacity="0.6"/>`,
  );
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const x1 = x(b.start);
    const x2 = Math.max(x1 + 2, x(b.end));
    const cut = b.end > tEnd;
    out.push(
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end" font-size="11" fill="${COLORS.text}">${esc(truncate(b.label, 46))}<title>${esc(b.label)}</title></text>`,
    );
    const tip = `${b.label}: ${new Date(b.start).toISOString().slice(0, 10)} → ${new Date(b.end).toISOString().slice(0, 10)}${b.note ? ` (${b.note})` : ''}`;
    out.push(
      `<rect x="${n(x1)}" y="${y + 4}" width="${n(x2 - x1)}" height="${rowH - 8}" rx="3" fill="${b.color}" opacity="${b.band ? 0.35 : 0.85}"${b.dashed ? ` stroke="${b.color}" stroke-dasharray="4 3" fill-opacity="0.15"` : ''}><title>${esc(tip)}</title></rect>`,
    );
    const endText = `${new Date(b.end).toISOString().slice(0, 10)}${cut ? ' →' : ''}`;
    const inside = x2 + 70 > labelW + plotW;
    out.push(
      inside
        ? `<text x="${n(x2 - 4)}" y="${y + 15}" text-anchor="end" font-size="10" fill="#fff">${esc(endText)}</text>`
        : `<text x="${n(x2 + 4)}" y="${y + 15}" font-size="10" fill="${COLORS.muted}">${esc(endText)}</text>`,
    );
  });
  const xn = x(nowMs);
  out.push(
    `<line x1="${n(xn)}" x2="${n(xn)}" y1="${top - 4}" y2="${height - 6}" stroke="${COLORS.denied}" stroke-width="1.5"/><text x="${n(xn + 3)}" y="${height - 8}" font-size="10" fill="${COLORS.denied}">now</text>`,
  );
  return svg(width, height, opts.label ?? 'timeline', out.join(''));
}

function legend(series: Series[], x0: number, y: number): string {
  let x = x0;
  return series
    .map((s) => {
      const item = `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${s.color}"/><text x="${x + 14}" y="${y}" font-size="11" fill="${COLORS.text}">${esc(s.name)}</text>`;
      x += 24 + s.name.length * 6.5;
      return item;
    })
    .join('');
}

function svg(width: number, height: number, label: string, body: string): string {
  return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}" ${FONT}>${body}</svg>`;
}

function niceCeil(v: number): number {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function fmtCount(v: number): string {
  if (v >= 1_000_000) return `${(v / 1_000_000).toFixed(1)}M`;
  if (v >= 10_000) return `${Math.round(v / 1000)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
