/**
 * The page's only script, served by the process itself (no CDN, no build step). Every
 * `data-refresh` seconds it asks the JSON API for the overview; when the digest differs
 * from the one the page was rendered with, it fetches the page again and swaps `<main>`.
 * It never sends anything but GETs: the dashboard is read-only.
 */
export const CLIENT_SCRIPT = `(() => {
  'use strict';
  const body = document.body;
  const every = Math.max(1, Number(body.dataset.refresh || '10')) * 1000;
  const api = body.dataset.api;
  const page = body.dataset.page || location.pathname;
  const status = document.getElementById('status');
  const updated = document.getElementById('updated');
  const setStatus = (cls, text) => { if (status) { status.className = cls; status.textContent = text; } };
  let failures = 0;
  async function tick() {
    try {
      const r = await fetch(api, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const data = await r.json();
      if (data.digest !== body.dataset.digest) {
        const p = await fetch(page, { headers: { accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin' });
        if (!p.ok) throw new Error('HTTP ' + p.status);
        const doc = new DOMParser().parseFromString(await p.text(), 'text/html');
        const next = doc.getElementById('main');
        const cur = document.getElementById('main');
        if (next && cur) {
          cur.replaceWith(document.importNode(next, true));
          body.dataset.digest = next.dataset.digest || data.digest;
        }
      }
      if (updated && data.generatedAt) {
        updated.dateTime = data.generatedAt;
        updated.textContent = data.generatedAt.slice(11, 19) + ' UTC';
      }
      failures = 0;
      setStatus('ok', 'live');
    } catch (err) {
      failures += 1;
      setStatus(failures > 2 ? 'down' : 'stale', failures > 2 ? 'unreachable' : 'retrying');
    }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
})();
`;
