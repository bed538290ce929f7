/**
 * The dashboard page, rendered on the server from `DashboardData` (the same object the
 * JSON API answers). Read-only: no form, no button that changes anything. Elements that
 * carry a number have `data-field` / `data-summary` attributes, so a test (or a person
 * with the devtools open) can compare what is shown with `/api/v1/overview`.
 */
import type { DashboardData, ScopeView, TimelineItem } from './model.js';
import {
  COLORS,
  esc,
  funnel,
  horizontalBars,
  shareBar,
  stackedColumns,
  type TimelineBar,
  timeline,
} from './svg.js';

export interface PageOptions {
  title: string;
  refreshSeconds: number;
  /** The API the page polls to see whether anything changed. */
  apiPath: string;
  scriptPath: string;
  /** Where the page itself is served (fetched again when the data changed). */
  pagePath: string;
}

export function renderPage(data: DashboardData, opts: PageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(opts.title)}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body data-digest="${esc(data.digest)}" data-refresh="${opts.refreshSeconds}" data-api="${esc(opts.apiPath)}" data-page="${esc(opts.pagePath)}">
<header>
  <h1>${esc(opts.title)}</h1>
  <p class="meta">read-only · refreshes every ${opts.refreshSeconds}s · <span id="status" class="ok">live</span> · data as of <time id="updated" datetime="${esc(data.generatedAt)}">${esc(hhmmss(data.generatedAt))} UTC</time></p>
</header>
${renderMain(data)}
<script src="${esc(opts.scriptPath)}" defer></script>
</body>
</html>
`;
}

/** The part of the page that is swapped in when the data changed. */
export function renderMain(data: DashboardData): string {
  return `<main id="main" data-digest="${esc(data.digest)}">
${summary(data)}
${scopesSection(data)}
${timelineSection(data)}
<div class="cols">
${staticKeysSection(data)}
${brokerSection(data)}
</div>
${historySection(data)}
</main>`;
}

function summary(d: DashboardData): string {
  const s = d.summary;
  const b = d.broker.totals;
  const retired = d.staticKeys.states.find((x) => x.state === 'retired')?.count ?? 0;
  const card = (label: string, value: string, sub: string, key: string) =>
    `<div class="card"><div class="label">${esc(label)}</div><div class="value" data-summary="${key}">${value}</div><div class="sub">${sub}</div></div>`;
  return `<section class="cards">
${card('Workloads on SPIRE', `${pct(s.spireShare)}`, `<span data-summary="onSpire">${s.onSpire}</span> of <span data-summary="workloads">${s.workloads}</span> workloads`, 'spireShare')}
${card(
  'Scopes',
  String(s.scopes),
  s.phases
    .filter((p) => p.scopes > 0)
    .map((p) => `${p.scopes} ${esc(p.phase)}`)
    .join(' · ') || 'none yet',
  'scopes',
)}
${card('Static keys', `${retired}/${d.staticKeys.total}`, `retired · ${d.staticKeys.blockers.length} blocker(s)`, 'staticKeys')}
${card('Broker, last 24h', `<span class="allow">${b.allow}</span> / <span class="deny">${b.deny}</span>`, `issued / denied${d.broker.configured ? '' : ' · broker not configured'}`, 'broker')}
${card('Next expiry', s.nextExpiry === null ? '—' : esc(s.nextExpiry.at.slice(0, 10)), s.nextExpiry === null ? 'nothing inventoried' : esc(s.nextExpiry.label), 'nextExpiry')}
</section>`;
}

function scopesSection(d: DashboardData): string {
  const rows = d.scopes.map(scopeRow).join('\n');
  return `<section id="scopes">
<h2>Cutover by mesh, cluster and namespace</h2>
<p class="hint">Share on SPIRE comes from observations (imports and broker sightings), never typed in. <span class="key"><i style="background:${COLORS.spire}"></i>SPIRE <i style="background:${COLORS.mesh}"></i>mesh CA <i style="background:${COLORS.other}"></i>other</span></p>
${
  d.scopes.length === 0
    ? '<p class="empty">No scope yet: import a mesh (<code>meshbridge import</code>) and run <code>meshbridge cutover status</code>.</p>'
    : `<table class="scopes">
<thead><tr><th>Scope</th><th>Phase</th><th class="num">Workloads</th><th>On SPIRE</th><th>Next gate</th><th>Blockers</th></tr></thead>
<tbody>
${rows}
</tbody></table>`
}
</section>`;
}

function scopeRow(s: ScopeView): string {
  const next = s.next;
  const gate =
    next === null
      ? '<span class="muted">last phase</span>'
      : `${esc(next.phase)} ${next.ready ? '<span class="gate pass">✓ ready</span>' : '<span class="gate fail">× blocked</span>'}`;
  const blockers =
    next === null || next.blockers.length === 0
      ? ''
      : `<ul class="blockers" data-field="blockers" data-count="${next.blockers.length}">${next.blockers
          .slice(0, 6)
          .map(
            (b) =>
              `<li><code>${esc(b.code)}</code> ${esc(b.message)}${b.examples?.length ? ` <span class="muted">(${esc(b.examples.join(', '))}${(b.count ?? 0) > b.examples.length ? ', …' : ''})</span>` : ''}</li>`,
          )
          .join(
            '',
          )}${next.blockers.length > 6 ? `<li class="muted">… ${next.blockers.length - 6} more (meshbridge cutover plan ${esc(s.scope)})</li>` : ''}</ul>`;
  return `<tr class="level-${s.level}" data-scope="${esc(s.scope)}">
<td class="scope">${esc(s.scope)}</td>
<td><span class="phase phase-${esc(s.phase)}" data-field="phase">${esc(s.phase)}</span></td>
<td class="num" data-field="workloads">${s.workloads}</td>
<td class="share">${shareBar({ spire: s.onSpire, mesh: s.onMesh, other: s.other })} <span data-field="onSpire">${s.onSpire}</span>/${s.workloads} <span class="muted">(${pct(s.spireShare)})</span></td>
<td data-field="next">${gate}</td>
<td>${blockers}</td>
</tr>`;
}

const KIND_COLOR: Record<TimelineItem['kind'], string> = {
  'mesh-root': COLORS.mesh,
  'mesh-issuer': '#63b3ed',
  'spire-root': COLORS.spire,
  'federated-root': '#805ad5',
  overlap: COLORS.overlap,
};

function timelineSection(d: DashboardData): string {
  const nowMs = Date.parse(d.timeline.now);
  const bars: TimelineBar[] = d.timeline.items.map((i) => ({
    label: i.label,
    start: Date.parse(i.start),
    end: Date.parse(i.end),
    color:
      i.status === 'expired'
        ? COLORS.expired
        : i.status === 'expiring'
          ? COLORS.expiring
          : KIND_COLOR[i.kind],
    band: i.kind === 'overlap',
    dashed: i.status === 'planned',
    note: i.kind === 'overlap' ? `${i.status} overlap window` : i.status,
  }));
  const warn = d.timeline.items.filter(
    (i) => i.kind !== 'overlap' && (i.status === 'expiring' || i.status === 'expired'),
  );
  return `<section id="timeline">
<h2>Roots, issuers and overlap windows</h2>
<p class="hint">Planned overlap: ${Math.round(d.timeline.overlapSeconds / 86_400)} days per cluster, from its first step into dual-trust (dashed: not started). <span class="key"><i style="background:${COLORS.mesh}"></i>mesh root <i style="background:#63b3ed"></i>mesh issuer <i style="background:${COLORS.spire}"></i>SPIRE root <i style="background:${COLORS.overlap}"></i>overlap <i style="background:${COLORS.expiring}"></i>expiring inside the overlap <i style="background:${COLORS.expired}"></i>expired</span></p>
${d.timeline.items.length === 0 ? '<p class="empty">Nothing inventoried yet.</p>' : timeline(bars, nowMs, { label: 'expiry timeline' })}
${warn.length === 0 ? '' : `<ul class="warnings">${warn.map((w) => `<li>${esc(w.label)} ${w.status === 'expired' ? 'expired' : 'expires'} ${esc(w.end.slice(0, 10))}</li>`).join('')}</ul>`}
</section>`;
}

function staticKeysSection(d: DashboardData): string {
  const f = d.staticKeys;
  return `<section id="static-keys">
<h2>Static keys</h2>
${funnel(f.states, { label: 'static-key funnel' })}
<p class="hint" data-summary="staticKeysReady">${f.ready.length} ready for their next step${f.interrupted.length ? ` · <strong>${f.interrupted.length} interrupted</strong> (run <code>keys recover</code>)` : ''}</p>
${
  f.blockers.length === 0
    ? '<p class="empty">No blockers.</p>'
    : `<table class="compact"><thead><tr><th>Key</th><th>Owner</th><th>Next</th><th>Blocker</th></tr></thead><tbody>
${f.blockers
  .slice(0, 30)
  .map(
    (b) =>
      `<tr data-key="${esc(b.key)}"><td>${esc(b.key)}</td><td>${esc(b.owner)}</td><td>${esc(b.state)} → ${esc(b.next)}</td><td><code>${esc(b.code)}</code> ${esc(b.message)}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`
}
</section>`;
}

function brokerSection(d: DashboardData): string {
  const b = d.broker;
  const series = [
    { name: 'issued', color: COLORS.issued },
    { name: 'denied', color: COLORS.denied },
    { name: 'errors', color: COLORS.errors },
  ];
  const activity = stackedColumns(
    b.buckets.map((x) => ({ start: x.start, values: [x.issued, x.denied, x.errors] })),
    series,
    { width: 520, height: 180, label: 'broker decisions over time' },
  );
  const byCredential = horizontalBars(
    b.byCredential.map((c) => ({ label: c.credential, values: [c.allow, c.deny, c.error] })),
    series,
    { width: 520, label: 'broker decisions by credential' },
  );
  const byReason = horizontalBars(
    b.byReason.filter((r) => r.decision !== 'allow').map((r) => ({ label: r.code, values: [r.count] })),
    [{ name: 'denied', color: COLORS.denied }],
    { width: 520, label: 'denials by reason', labelWidth: 200 },
  );
  return `<section id="broker">
<h2>Credential broker</h2>
<p class="hint">${b.configured ? '' : 'No broker in this server’s config; showing what the store recorded. '}Since ${esc(b.since.slice(0, 16).replace('T', ' '))} UTC, ${b.bucketSeconds >= 3600 ? `${b.bucketSeconds / 3600} h` : `${b.bucketSeconds / 60} min`} per column: <span data-summary="brokerAllow">${b.totals.allow}</span> issued, <span data-summary="brokerDeny">${b.totals.deny}</span> denied, <span data-summary="brokerError">${b.totals.error}</span> errors.</p>
${activity}
<h3>By credential</h3>
${byCredential}
<h3>Denials by reason</h3>
${byReason}
<h3>Leases</h3>
${
  b.leases.length === 0
    ? '<p class="empty">No lease yet.</p>'
    : `<table class="compact"><thead><tr><th>Credential</th><th class="num">Active</th><th class="num">Expired</th><th class="num">Revoked</th></tr></thead><tbody>
${b.leases.map((l) => `<tr data-credential="${esc(l.credential)}"><td>${esc(l.credential)}</td><td class="num" data-field="active">${l.active}</td><td class="num">${l.expired}</td><td class="num">${l.revoked}</td></tr>`).join('\n')}
</tbody></table>`
}
</section>`;
}

function historySection(d: DashboardData): string {
  return `<section id="history">
<h2>Transition history</h2>
${
  d.history.length === 0
    ? '<p class="empty">No transition yet.</p>'
    : `<table class="compact"><thead><tr><th>When (UTC)</th><th>Scope</th><th>From → to</th><th>By</th><th>Why</th></tr></thead><tbody>
${d.history
  .slice(0, 50)
  .map(
    (h) =>
      `<tr class="${h.kind}"><td>${esc(h.at.slice(0, 19).replace('T', ' '))}</td><td>${esc(h.scope)}${h.via ? ` <span class="muted">(with ${esc(h.via)})</span>` : ''}</td><td><span class="phase phase-${esc(h.from)}">${esc(h.from)}</span> → <span class="phase phase-${esc(h.to)}">${esc(h.to)}</span>${h.kind === 'rollback' ? ' <strong>rollback</strong>' : ''}</td><td>${esc(h.by)}</td><td>${h.reason ? esc(h.reason) : h.evidence ? `<span class="muted">gate ${esc(h.evidence)}</span>` : ''}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`
}
</section>`;
}

function pct(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}

function hhmmss(iso: string): string {
  return iso.slice(11, 19);
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#2d3748;background:#f7fafc}
header{background:#1a365d;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px;font-weight:600}
header .meta{margin:2px 0 0;color:#bee3f8;font-size:12px}
#status.ok::before{content:"● ";color:#68d391}#status.stale::before{content:"● ";color:#f6ad55}#status.down::before{content:"● ";color:#fc8181}
main{padding:16px 24px;max-width:1400px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 8px}h3{font-size:13px;margin:14px 0 4px;color:#4a5568}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:12px;background:none;border:0;padding:0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 14px}
.card .label{font-size:12px;color:#718096;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:650;margin:2px 0}
.card .sub{font-size:12px;color:#4a5568}
.allow{color:#2f855a}.deny{color:#c53030}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #edf2f7;vertical-align:top}
th{font-size:12px;color:#718096;font-weight:600}
td.num,th.num{text-align:right}
tr.level-mesh td.scope{font-weight:700}
tr.level-cluster td.scope{padding-left:22px;font-weight:600}
tr.level-namespace td.scope{padding-left:40px}
.share svg{vertical-align:middle}
.phase{display:inline-block;white-space:nowrap;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#edf2f7}
.phase-inventoried{background:#edf2f7;color:#4a5568}.phase-dual-trust{background:#bee3f8;color:#2a4365}
.phase-dual-issue{background:#c6f6d5;color:#22543d}.phase-spiffe-only{background:#9ae6b4;color:#1c4532}
.phase-retired{background:#2d3748;color:#fff}
.gate{font-weight:600}.gate.pass{color:#2f855a}.gate.fail{color:#c53030}.gate.unknown{color:#a0aec0}
ul.blockers{margin:0;padding-left:16px;font-size:12px}
ul.warnings{color:#c05621;font-size:12px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#edf2f7;padding:0 3px;border-radius:3px}
.muted,.hint{color:#718096}.hint{font-size:12px;margin:0 0 8px}
.empty{color:#a0aec0;font-style:italic}
.key i{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px;vertical-align:-1px;border-radius:2px}
.cols{display:grid;grid-template-columns:minmax(380px,1fr) minmax(480px,1.3fr);gap:16px}
.cols section{margin:0 0 16px}
table.compact td,table.compact th{padding:4px 6px;font-size:12px}
tr.rollback td{background:#fffaf0}
svg.chart{max-width:100%;height:auto}
@media (max-width:1000px){.cols{grid-template-columns:1fr}}
`;
