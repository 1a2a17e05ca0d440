// The GLASS standardizer console: plain DOM (no innerHTML), same-origin requests with the session
// cookie, the CSRF token on every unsafe request, Chart.js for the charts.

const $ = (id) => document.getElementById(id);

/** An element with attributes (`on*` functions become listeners) and children (text or nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function')
      el.addEventListener(name.slice(2), value);
    else if (name === 'className') el.className = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const pct = (x, digits = 1) =>
  x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)} %`;
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

let session = null;

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
  }
}

function signInAgain() {
  const next = `${location.pathname}${location.search}`;
  location.assign(`/sign-in?next=${encodeURIComponent(next)}`);
}

/** fetch for the API: JSON in and out, CSRF token on unsafe methods, 401 → sign-in page. */
async function api(path, { method = 'GET', body, redirect = true } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && session?.csrfToken) headers['x-csrf-token'] = session.csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    if (res.status === 401 && redirect) signInAgain();
    throw new ApiError(res.status, typeof data === 'object' ? data : undefined);
  }
  return data;
}

const can = (role) => session?.roles.includes(role) ?? false;

function showError(id, error) {
  const el = $(id);
  if (el) el.textContent = error ? (error.message ?? String(error)) : '';
}

/** Header: who is signed in, role-dependent links, sign-out. */
function chrome() {
  $('who-name').textContent = session.name;
  const top = ['admin', 'uploader', 'analyst', 'viewer'].find((r) => can(r)) ?? 'none';
  $('who-role').textContent = top;
  $('who').hidden = false;
  $('nav').hidden = false;
  for (const el of document.querySelectorAll('[data-role]')) if (!can(el.dataset.role)) el.remove();
  for (const a of document.querySelectorAll('#nav a'))
    if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
  $('sign-out').addEventListener('click', async () => {
    await api('/auth/session', { method: 'DELETE', redirect: false }).catch(() => undefined);
    location.assign('/sign-in');
  });
}

function statusBadge(status, progress) {
  const text = status === 'processing' ? `processing ${Math.round(progress)} %` : status;
  return h('span', { className: `status status-${status}` }, text);
}

// --- sign in ---------------------------------------------------------------------------------

function signInPage() {
  const form = $('sign-in-form');
  $('key').focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError('sign-in-error');
    const key = $('key').value.trim();
    if (key === '') {
      showError('sign-in-error', 'Enter your API key.');
      return;
    }
    try {
      await api('/auth/session', { method: 'POST', body: { key }, redirect: false });
      const next = new URLSearchParams(location.search).get('next');
      location.assign(next?.startsWith('/') && !next.startsWith('//') ? next : '/datasets');
    } catch (error) {
      showError(
        'sign-in-error',
        error.status === 401 ? 'This key is not valid (or was revoked).' : error,
      );
      $('key').select();
    }
  });
}

// --- datasets ----------------------------------------------------------------------------------

async function datasetsPage() {
  const limit = 20;
  let offset = 0;
  let timer;
  const load = async () => {
    clearTimeout(timer);
    try {
      const page = await api(`/api/datasets?limit=${limit}&offset=${offset}`);
      const body = clear($('datasets-body'));
      if (page.items.length === 0)
        body.append(h('tr', {}, h('td', { colspan: 8 }, 'No datasets yet.')));
      for (const d of page.items) {
        const q = d.quality;
        const mayDelete = can('admin') || (can('uploader') && d.owner === session.id);
        body.append(
          h(
            'tr',
            {},
            h('td', {}, h('a', { href: `/datasets/${d.id}` }, d.batchId)),
            h('td', {}, d.country),
            h('td', {}, d.year),
            h('td', {}, d.filename ?? '—'),
            h('td', {}, statusBadge(d.status, d.progress)),
            h('td', {}, q ? `${q.errors} errors, ${q.warnings} warnings` : '—'),
            h('td', {}, when(d.createdAt)),
            h(
              'td',
              {},
              mayDelete && d.status !== 'queued' && d.status !== 'processing'
                ? h(
                    'button',
                    {
                      type: 'button',
                      className: 'danger',
                      'aria-label': `Delete ${d.batchId}`,
                      onclick: async () => {
                        if (!confirm(`Delete batch ${d.batchId}? This cannot be undone.`)) return;
                        await api(`/api/datasets/${d.id}`, { method: 'DELETE' }).catch((e) =>
                          showError('datasets-error', e),
                        );
                        void load();
                      },
                    },
                    'Delete',
                  )
                : '',
            ),
          ),
        );
      }
      $('page-info').textContent =
        page.total === 0 ? '' : `${offset + 1}–${offset + page.items.length} of ${page.total}`;
      $('prev').disabled = offset === 0;
      $('next').disabled = offset + limit >= page.total;
      if (page.items.some((d) => d.status === 'queued' || d.status === 'processing'))
        timer = setTimeout(load, 2000);
    } catch (error) {
      showError('datasets-error', error);
    }
  };
  $('prev').addEventListener('click', () => {
    offset = Math.max(0, offset - limit);
    void load();
  });
  $('next').addEventListener('click', () => {
    offset += limit;
    void load();
  });
  await load();
}

// --- upload ------------------------------------------------------------------------------------

function uploadPage() {
  $('year').value = String(new Date().getFullYear() - 1);
  const form = $('upload-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError('upload-error');
    if (!form.reportValidity()) return;
    const data = new FormData();
    for (const name of ['country', 'year', 'batchId', 'dateFormat']) {
      const value = $(name).value.trim();
      if (value !== '') data.set(name, name === 'country' ? value.toUpperCase() : value);
    }
    data.set('file', $('file').files[0]);
    $('progress-card').hidden = false;
    $('upload-done').hidden = true;
    $('upload-button').disabled = true;
    // XMLHttpRequest: fetch() cannot report upload progress.
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/datasets');
    xhr.setRequestHeader('accept', 'application/json');
    if (session.csrfToken) xhr.setRequestHeader('x-csrf-token', session.csrfToken);
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      const p = Math.round((e.loaded / e.total) * 100);
      $('transfer').value = p;
      $('transfer-text').textContent = `${p} %`;
    });
    xhr.addEventListener('load', () => {
      $('upload-button').disabled = false;
      let body;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status === 401) return signInAgain();
      if (xhr.status !== 202) {
        showError('upload-error', new ApiError(xhr.status, body));
        $('processing-text').textContent = 'upload refused';
        return;
      }
      $('transfer').value = 100;
      $('transfer-text').textContent = '100 %';
      follow(body);
    });
    xhr.addEventListener('error', () => {
      $('upload-button').disabled = false;
      showError('upload-error', 'The upload failed (network error).');
    });
    xhr.send(data);
  });
}

/** Live processing progress over server-sent events (the browser reconnects by itself). */
function follow(dataset) {
  const show = (d) => {
    $('processing').value = d.status === 'done' ? 100 : d.progress;
    $('processing-text').textContent =
      d.status === 'processing' ? `processing ${Math.round(d.progress)} %` : d.status;
    if (d.status === 'done' || d.status === 'failed') {
      $('report-link').href = `/datasets/${d.id}`;
      $('report-link').textContent =
        d.status === 'done' ? 'Open the quality report and downloads' : `Failed: ${d.error ?? ''}`;
      $('upload-done').hidden = false;
      return true;
    }
    return false;
  };
  if (show(dataset)) return;
  const events = new EventSource(`/api/datasets/${dataset.id}/events`);
  events.addEventListener('status', (e) => {
    if (show(JSON.parse(e.data))) events.close();
  });
  events.addEventListener('end', () => events.close());
}

// --- one dataset -------------------------------------------------------------------------------

function downloadLink(href, text, description) {
  return h('li', {}, h('a', { href, download: '' }, text), description ? ` — ${description}` : '');
}

async function datasetPage() {
  const id = location.pathname.split('/').pop();
  let dataset;
  try {
    dataset = await api(`/api/datasets/${id}`);
  } catch (error) {
    showError('dataset-error', error);
    return;
  }
  const name = `${dataset.country}_${dataset.year}_${dataset.batchId}`;
  document.title = `${dataset.batchId} · GLASS standardizer`;
  $('title').textContent = `Batch ${dataset.batchId} (${dataset.country} ${dataset.year})`;
  const c = dataset.counts ?? {};
  const summary = clear($('summary'));
  const item = (k, v) => summary.append(h('dt', {}, k), h('dd', {}, v));
  item('Status', statusBadge(dataset.status, dataset.progress));
  item('File', dataset.filename ?? '—');
  item('Rows read', c.rowsRead ?? '—');
  item('Isolates', c.isolates ?? '—');
  item('First isolates (GLASS rule)', c.firstIsolatesGlass ?? '—');
  item('RIS rows', c.risRows ?? '—');
  item('Uploaded', when(dataset.createdAt));
  if (dataset.error) item('Error', dataset.error);
  if (dataset.status !== 'done') {
    if (dataset.status === 'queued' || dataset.status === 'processing')
      setTimeout(() => location.reload(), 2000);
    return;
  }

  const q = dataset.quality;
  const downloads = clear($('downloads'));
  downloads.append(
    q?.blocking
      ? h(
          'li',
          { className: 'note' },
          `${name}_RIS.csv — not available: the quality report has errors`,
        )
      : downloadLink(dataset.links.ris, `${name}_RIS.csv`, 'GLASS RIS file'),
  );
  if ((c.sampleRows ?? 0) > 0)
    downloads.append(downloadLink(dataset.links.sample, `${name}_SAMPLE.csv`, 'GLASS SAMPLE file'));
  downloads.append(
    can('analyst')
      ? downloadLink(
          dataset.links.isolates,
          `${name}_isolates.csv`,
          'one row per isolate, with patient ids',
        )
      : h(
          'li',
          { className: 'note' },
          `${name}_isolates.csv — needs the analyst role (holds patient ids)`,
        ),
  );
  downloads.append(
    downloadLink(dataset.links.issues, `${name}_quality_issues.csv`, 'per-row issue list'),
  );

  const [report] = await Promise.all([api(dataset.links.quality)]);
  $('quality-summary').textContent =
    `${report.summary.errors} errors, ${report.summary.warnings} warnings, ${report.summary.infos} notes.` +
    (report.blocking ? ' Errors block the GLASS export: fix the file and upload it again.' : '');
  const qb = clear($('quality-body'));
  const order = { ERROR: 0, WARN: 1, INFO: 2 };
  for (const e of [...report.entries].sort(
    (a, b) => order[a.severity] - order[b.severity] || a.rule - b.rule,
  )) {
    // The texts found, under the rule's own, each with its count (a report stored before
    // entries had `messages` has none).
    const found = (e.messages ?? []).filter((m) => m.message !== e.message);
    qb.append(
      h(
        'tr',
        {},
        h('td', { className: 'num' }, e.rule),
        h('td', { className: `sev-${e.severity}` }, e.severity),
        h(
          'td',
          {},
          e.message,
          found.length > 0 &&
            h(
              'ul',
              { className: 'findings' },
              found.map((m) => h('li', {}, `${m.message} (${m.count})`)),
            ),
        ),
        h('td', { className: 'num' }, e.count),
        h('td', {}, e.rows.slice(0, 12).join(', ') + (e.rows.length > 12 ? ' …' : '')),
        h('td', {}, e.values.slice(0, 6).join(', ') + (e.values.length > 6 ? ' …' : '')),
      ),
    );
  }
  const comp = clear($('completeness'));
  for (const [field, value] of Object.entries(report.completeness ?? {}))
    comp.append(h('li', {}, `${field}: ${value} %`));

  const pathogens = $('f-pathogen');
  const refresh = () => void analytics(dataset).catch((e) => showError('dataset-error', e));
  for (const el of ['f-specimen', 'f-pathogen', 'f-minimum'])
    $(el).addEventListener('change', refresh);
  const first = await analytics(dataset);
  for (const p of first.pathogens) pathogens.append(h('option', { value: p }, p));
}

/** %S → a colour from red (0) over amber to green (100), light enough for dark text. */
function heat(p) {
  const hue = Math.round(p * 120);
  return `hsl(${hue}, 70%, 78%)`;
}

let resistanceChart;

async function analytics(dataset) {
  const specimen = $('f-specimen').value;
  const pathogen = $('f-pathogen').value;
  const minimum = Number($('f-minimum').value) || 5;
  const qs = new URLSearchParams({ minimum: String(minimum) });
  if (specimen) qs.set('specimen', specimen);
  const ab = await api(`${dataset.links.antibiogram}?${qs}`);
  const table = clear($('antibiogram'));
  const shown = pathogen ? ab.pathogens.filter((p) => p === pathogen) : ab.pathogens;
  const used = ab.antibiotics.filter((a) => shown.some((p) => ab.cells[p]?.[a]));
  table.append(
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Pathogen'),
        used.map((a) => h('th', { scope: 'col' }, a)),
      ),
    ),
  );
  const body = h('tbody');
  for (const p of shown)
    body.append(
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, p),
        used.map((a) => {
          const cell = ab.cells[p]?.[a];
          if (!cell)
            return h('td', { className: 'none', title: `fewer than ${ab.minimum} tested` }, '—');
          const td = h(
            'td',
            {
              title: `${a}: ${pct(cell.pct_susceptible)} susceptible (95 % CI ${pct(cell.lo)}–${pct(cell.hi)}), n = ${cell.n_tested}`,
            },
            Math.round(cell.pct_susceptible * 100),
          );
          td.style.backgroundColor = heat(cell.pct_susceptible);
          return td;
        }),
      ),
    );
  table.append(body);
  $('heat-legend').textContent =
    `Cells: % susceptible (red low, green high); — fewer than ${ab.minimum} isolates tested. Hover a cell for its interval.`;

  const rqs = new URLSearchParams(qs);
  if (pathogen) rqs.set('pathogen', pathogen);
  const res = await api(`${dataset.links.resistance}?${rqs}`);
  const rows = res.rows.filter((r) => r.pct_R !== null);
  const rb = clear($('resistance-body'));
  for (const r of rows)
    rb.append(
      h(
        'tr',
        {},
        h('td', {}, r.pathogen),
        h('td', {}, r.antibiotic),
        h('td', { className: 'num' }, r.n_tested),
        h('td', { className: 'num' }, pct(r.pct_R)),
        h('td', {}, r.ci ? `${pct(r.ci.lo)}–${pct(r.ci.hi)}` : '—'),
      ),
    );
  const labels = rows.map((r) => `${r.pathogen} ${r.antibiotic}`);
  const data = {
    labels,
    datasets: [
      {
        type: 'bar',
        label: '% resistant',
        data: rows.map((r) => r.pct_R * 100),
        backgroundColor: '#b3261e',
        order: 2,
      },
      {
        type: 'bar',
        label: '95 % confidence interval',
        data: rows.map((r) => (r.ci ? [r.ci.lo * 100, r.ci.hi * 100] : null)),
        backgroundColor: 'rgba(27, 31, 36, 0.25)',
        borderColor: '#1b1f24',
        borderWidth: 1,
        barPercentage: 0.25,
        grouped: false,
        order: 1,
      },
    ],
  };
  if (window.Chart) {
    if (resistanceChart) resistanceChart.destroy();
    resistanceChart = new window.Chart($('resistance-chart'), {
      data,
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { min: 0, max: 100, title: { display: true, text: '% resistant' } } },
      },
    });
  }
  return ab;
}

// --- monitoring --------------------------------------------------------------------------------

let ratesChart;

async function monitoringPage() {
  if (!can('admin')) {
    showError('monitoring-error', 'Monitoring needs the admin role.');
    return;
  }
  const load = async () => {
    try {
      const m = await api('/api/admin/monitoring');
      const status = $('health-status');
      status.textContent = `${m.status}, ${m.state}`;
      status.className = `status status-${m.status}`;
      const cb = clear($('checks-body'));
      for (const [name, results] of Object.entries(m.checks))
        for (const r of results)
          cb.append(
            h(
              'tr',
              {},
              h('td', {}, name),
              h('td', { className: `status-${r.status}` }, r.status),
              h(
                'td',
                {},
                r.observedValue === undefined
                  ? '—'
                  : `${r.observedValue}${r.observedUnit ? ` ${r.observedUnit}` : ''}`,
              ),
              h('td', {}, when(r.time)),
              h('td', {}, r.output ?? ''),
            ),
          );
      const ab = clear($('alerts-body'));
      for (const a of m.alerts)
        ab.append(
          h(
            'tr',
            {},
            h('td', {}, a.name),
            h('td', {}, a.metric),
            h('td', { className: 'num' }, a.threshold),
            h(
              'td',
              { className: 'num' },
              a.value === undefined || a.value === null ? '—' : Math.round(a.value * 1000) / 1000,
            ),
            h('td', { className: `status-${a.status}` }, a.status),
          ),
        );
      $('requests-summary').textContent =
        `${m.requests.total} requests answered since the start, ${m.requests.errors} of them 5xx.`;
      const p = clear($('processing'));
      const item = (k, v) => p.append(h('dt', {}, k), h('dd', {}, v));
      for (const [s, n] of Object.entries(m.processing.datasets)) item(`Datasets ${s}`, n);
      item('Rows processed', m.processing.rows);
      item('Quality errors found', m.processing.qualityErrors);
      item(
        'Mean processing time',
        m.processing.meanDurationSeconds === null
          ? '—'
          : `${m.processing.meanDurationSeconds.toFixed(2)} s`,
      );
      item('Memory (RSS)', `${Math.round(m.process.rssBytes / 1048576)} MB`);
      item('Uptime', `${m.process.uptimeSeconds} s`);
      const hist = clear($('history'));
      const events = [
        ...m.history.state.map((t) => ({ time: t.time, text: `service ${t.from} → ${t.to}` })),
        ...Object.entries(m.history.checks).flatMap(([name, c]) =>
          c.transitions.map((t) => ({
            time: t.time,
            text: `${name}: ${t.from ?? 'new'} → ${t.to}${t.output ? ` (${t.output})` : ''}`,
          })),
        ),
      ].sort((a, b) => b.time.localeCompare(a.time));
      for (const e of events) hist.append(h('li', {}, `${when(e.time)} — ${e.text}`));
      if (window.Chart) {
        const labels = m.requests.samples.map((s) => new Date(s.time).toLocaleTimeString());
        const values = m.requests.samples.map((s) => s.requestsPerMinute);
        if (ratesChart) {
          ratesChart.data.labels = labels;
          ratesChart.data.datasets[0].data = values;
          ratesChart.update();
        } else {
          ratesChart = new window.Chart($('rates-chart'), {
            type: 'line',
            data: {
              labels,
              datasets: [
                {
                  label: 'requests per minute',
                  data: values,
                  borderColor: '#0b5394',
                  pointRadius: 2,
                },
              ],
            },
            options: {
              animation: false,
              maintainAspectRatio: false,
              scales: { y: { beginAtZero: true } },
            },
          });
        }
      }
    } catch (error) {
      showError('monitoring-error', error);
    }
  };
  await load();
  setInterval(load, 10_000);
}

// --- start -------------------------------------------------------------------------------------

const pages = {
  datasets: datasetsPage,
  upload: uploadPage,
  dataset: datasetPage,
  monitoring: monitoringPage,
};

async function start() {
  const page = document.body.dataset.page;
  if (page === 'sign-in') {
    signInPage();
    return;
  }
  try {
    session = await api('/auth/session');
  } catch {
    return; // api() sent the browser to the sign-in page
  }
  chrome();
  await pages[page]?.();
  document.body.dataset.ready = 'true';
}

void start();
