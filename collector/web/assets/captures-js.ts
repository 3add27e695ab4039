// The console's script, part 2 of 3: the captures list (filters, paging, live updates) and the
// capture detail (headers, bodies, error, outbound calls, copy as curl, HAR export).
export const CAPTURES_JS = String.raw`
var FILTERS = ['status', 'service', 'path', 'rule', 'since'];

VIEWS.captures = function (main, r) {
  var query = r.query;
  var before = query.get('before');
  var form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter captures' });
  var inputs = {
    status: h('select', { id: 'f-status' }, ['', '1xx', '2xx', '3xx', '4xx', '5xx'].map(function (v) {
      return h('option', { value: v, text: v || 'any' });
    })),
    service: h('input', { id: 'f-service', type: 'text', placeholder: 'web', autocomplete: 'off' }),
    path: h('input', { id: 'f-path', type: 'text', placeholder: '/users', autocomplete: 'off' }),
    rule: h('input', { id: 'f-rule', type: 'text', list: 'rule-names', placeholder: 'TapConfig name', autocomplete: 'off' }),
    since: h('select', { id: 'f-since' }, [['', 'any time'], ['15m', 'last 15 min'], ['1h', 'last hour'], ['24h', 'last 24 h'], ['7d', 'last 7 days']].map(function (o) {
      return h('option', { value: o[0], text: o[1] });
    })),
  };
  FILTERS.forEach(function (name) { inputs[name].value = query.get(name) || ''; });
  var datalist = h('datalist', { id: 'rule-names' });
  append(form, [
    field('Status', inputs.status), field('Service', inputs.service), field('Path prefix', inputs.path),
    field('Rule', inputs.rule), field('Time', inputs.since), datalist,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: 'Filter' }),
      h('button', { type: 'button', onclick: function () { location.hash = '#/captures'; }, text: 'Clear' })),
  ]);
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var next = new URLSearchParams();
    FILTERS.forEach(function (name) { if (inputs[name].value.trim()) next.set(name, inputs[name].value.trim()); });
    var text = next.toString();
    location.hash = '#/captures' + (text ? '?' + text : '');
  });
  api('GET', '/v1/tapconfigs').then(function (data) {
    (data.tapconfigs || []).forEach(function (t) { datalist.appendChild(h('option', { value: t.resource.metadata.name })); });
  }).catch(function () {});

  var summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  var pending = h('button', { type: 'button', class: 'pending', hidden: true });
  var body = h('tbody');
  var table = h('table', { class: 'captures' },
    h('caption', { class: 'sr-only', text: 'Captures, newest first' }),
    h('thead', null, h('tr', null, ['ID', 'Time', 'Service', 'Method', 'Path', 'Status', 'Duration', 'Destination'].map(function (t) {
      return h('th', { scope: 'col', class: 'c-' + t.toLowerCase(), text: t });
    }))),
    body);
  var pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  append(main, [h('h1', { text: 'Captures' }), form, h('div', { class: 'bar' }, summary, pending), h('div', { class: 'table-wrap' }, table), pager]);

  var known = null;
  var loading = false;
  var again = false;
  var newCount = 0;

  function listUrl() {
    var params = new URLSearchParams();
    FILTERS.forEach(function (name) { if (query.get(name)) params.set(name, query.get(name)); });
    if (before) params.set('before', before);
    params.set('limit', String(PAGE_SIZE + 1));
    params.set('order', 'desc');
    return '/v1/captures?' + params.toString();
  }

  function row(c, fresh) {
    var href = '#/capture/' + encodeURIComponent(c.seq);
    var tr = h('tr', { class: fresh ? 'new' : null, 'data-id': c.id },
      h('td', { class: 'c-id' }, h('a', { href: href, text: String(c.seq), 'aria-label': 'Capture ' + c.seq + ': ' + c.method + ' ' + c.path + ' ' + c.status })),
      h('td', { class: 'c-time', text: fmtTime(c.startedAt) }),
      h('td', { class: 'c-service', text: c.service }),
      h('td', { class: 'c-method', text: c.method }),
      h('td', { class: 'c-path', text: c.path, title: c.route ? 'route ' + c.route : null }),
      h('td', { class: 'c-status' }, h('span', { class: statusClass(c.status), text: c.aborted ? c.status + ' aborted' : String(c.status) })),
      h('td', { class: 'c-duration num', text: fmtMs(c.durationMs) }),
      h('td', { class: 'c-destination', text: c.destination }));
    tr.addEventListener('click', function (event) {
      if (event.target.tagName !== 'A') location.hash = href;
    });
    return tr;
  }

  function load() {
    if (loading) { again = true; return; }
    loading = true;
    api('GET', listUrl()).then(function (data) {
      var list = data.captures || [];
      var more = list.length > PAGE_SIZE;
      if (more) list = list.slice(0, PAGE_SIZE);
      var seen = known;
      known = new Set(list.map(function (c) { return c.id; }));
      clear(body);
      list.forEach(function (c) { body.appendChild(row(c, seen !== null && !seen.has(c.id))); });
      if (list.length === 0) body.appendChild(h('tr', null, h('td', { colspan: '8', class: 'empty', text: 'No captures match.' })));
      summary.textContent = list.length === 0 ? 'No captures' :
        'Captures ' + list[list.length - 1].seq + ' to ' + list[0].seq + (before ? '' : ', newest first') + (more ? '' : ' (no older ones)');
      clear(pager);
      if (before) pager.appendChild(h('a', { href: pageHref(null), class: 'button', text: 'Newest' }));
      if (more) pager.appendChild(h('a', { href: pageHref(list[list.length - 1].seq), class: 'button', rel: 'next', text: 'Older' }));
    }).catch(function (err) {
      clear(body);
      body.appendChild(h('tr', null, h('td', { colspan: '8' }, errorBox(err))));
    }).then(function () {
      loading = false;
      if (again) { again = false; load(); }
    });
  }

  function pageHref(seq) {
    var params = new URLSearchParams();
    FILTERS.forEach(function (name) { if (query.get(name)) params.set(name, query.get(name)); });
    if (seq !== null) params.set('before', String(seq));
    var text = params.toString();
    return '#/captures' + (text ? '?' + text : '');
  }

  pending.addEventListener('click', function () { location.hash = pageHref(null); });
  onCaptures(function (event) {
    if (!before) { load(); announce((event.count || 1) + ' new capture' + (event.count === 1 ? '' : 's')); return; }
    newCount += event.count || 1;
    pending.textContent = newCount + ' new — show the newest';
    pending.hidden = false;
  });
  // Captures stored by other collectors on the same database are not announced here: look again now and then.
  every(15000, function () { if (!before) load(); });
  load();

  // j / k move between rows, Enter (on the link) opens one.
  var keys = function (event) {
    if (event.target.closest && event.target.closest('input, select, textarea')) return;
    if (event.key !== 'j' && event.key !== 'k') return;
    var links = Array.prototype.slice.call(body.querySelectorAll('a'));
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    var next = event.key === 'j' ? Math.min(links.length - 1, at + 1) : Math.max(0, at - 1);
    links[next].focus();
    event.preventDefault();
  };
  document.addEventListener('keydown', keys);
  state.cleanup.push(function () { document.removeEventListener('keydown', keys); });
};

// Bodies: JSON pretty-printed and foldable, text wrapped, anything else as size and a hex preview.
function bodyBytes(b) {
  if (!b) return new Uint8Array(0);
  if (b.encoding === 'base64') {
    var bin = atob(b.data);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  return new TextEncoder().encode(b.data);
}

function bodyText(b) {
  if (!b || b.contentEncoding) return undefined;
  if (b.encoding === 'utf8') return b.data;
  try { return new TextDecoder('utf-8', { fatal: true }).decode(bodyBytes(b)); } catch (e) { return undefined; }
}

function hexPreview(bytes, max) {
  var lines = [];
  var n = Math.min(bytes.length, max);
  for (var at = 0; at < n; at += 16) {
    var hex = [];
    var ascii = '';
    for (var i = at; i < Math.min(at + 16, n); i++) {
      hex.push(bytes[i].toString(16).padStart(2, '0'));
      ascii += bytes[i] >= 0x20 && bytes[i] < 0x7f ? String.fromCharCode(bytes[i]) : '.';
    }
    lines.push(at.toString(16).padStart(8, '0') + '  ' + hex.join(' ').padEnd(47, ' ') + '  ' + ascii);
  }
  return lines.join('\n');
}

// Small documents open whole; big ones open two levels, the rest a click away.
function jsonNode(value, key, depth, openDepth) {
  var label = key === undefined ? null : h('span', { class: 'j-key', text: JSON.stringify(key) + ': ' });
  if (value !== null && typeof value === 'object') {
    var isArray = Array.isArray(value);
    var keys = isArray ? value.map(function (_, i) { return i; }) : Object.keys(value);
    var open = isArray ? '[' : '{';
    var close = isArray ? ']' : '}';
    if (keys.length === 0) return h('div', { class: 'j-line' }, label, open + close);
    var details = h('details', { class: 'j-node', open: depth < openDepth });
    details.appendChild(h('summary', null, label, open, h('span', { class: 'j-count', text: ' ' + keys.length + (isArray ? ' items' : ' keys') + ' ' })));
    var inner = h('div', { class: 'j-children' });
    keys.forEach(function (k) { inner.appendChild(jsonNode(value[k], isArray ? undefined : k, depth + 1, openDepth)); });
    details.appendChild(inner);
    details.appendChild(h('div', { class: 'j-close', text: close }));
    return details;
  }
  var cls = value === null ? 'j-null' : 'j-' + typeof value;
  var text = JSON.stringify(value);
  var redacted = value === '[REDACTED]';
  return h('div', { class: 'j-line' }, label, h('span', { class: cls + (redacted ? ' redacted' : ''), text: text }), redacted ? h('span', { class: 'marker', text: 'redacted' }) : null);
}

function bodyView(b, label) {
  if (!b || (b.size === 0 && !b.data)) return h('p', { class: 'muted', text: 'No body.' });
  var notes = [b.size + ' bytes'];
  if (b.truncated) notes.push('kept the first ' + bodyBytes(b).length);
  if (b.contentEncoding) notes.push('Content-Encoding ' + b.contentEncoding);
  var meta = h('p', { class: 'body-meta', text: notes.join(', ') });
  var text = bodyText(b);
  if (text === undefined) {
    var bytes = bodyBytes(b);
    return h('div', { class: 'body', 'aria-label': label },
      meta, h('p', { class: 'muted', text: 'Binary' + (b.contentEncoding ? ' (encoded)' : '') + ': hex preview of the first ' + Math.min(bytes.length, 512) + ' bytes.' }),
      h('pre', { class: 'hex', text: hexPreview(bytes, 512) }));
  }
  if (!b.truncated) {
    try {
      var value = JSON.parse(text);
      if (value !== null && typeof value === 'object') {
        return h('div', { class: 'body', 'aria-label': label }, meta,
          h('div', { class: 'json', 'data-json': '1' }, jsonNode(value, undefined, 0, text.length < 20000 ? Infinity : 2)));
      }
    } catch (e) { /* not JSON: shown as text */ }
  }
  return h('div', { class: 'body', 'aria-label': label }, meta, h('pre', { class: 'text', text: text }));
}

function headerTable(headers, redactedPaths, prefix, caption) {
  if (!headers || !headers.length) return h('p', { class: 'muted', text: 'No headers.' });
  return h('table', { class: 'headers' }, h('caption', { class: 'sr-only', text: caption }),
    h('tbody', null, headers.map(function (pair) {
      var redacted = pair[1] === '[REDACTED]' || redactedPaths.indexOf(prefix + pair[0].toLowerCase()) >= 0;
      return h('tr', { class: redacted ? 'redacted-row' : null },
        h('th', { scope: 'row', text: pair[0] }),
        h('td', null, h('span', { class: redacted ? 'redacted' : null, text: pair[1] }), redacted ? h('span', { class: 'marker', text: 'redacted' }) : null));
    })));
}

function section(title, id) {
  var body = Array.prototype.slice.call(arguments, 2);
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id: id, text: title }), body);
}

function errorView(error) {
  return h('div', { class: 'error-detail' },
    h('p', null, h('strong', { text: error.name + (error.code ? ' (' + error.code + ')' : '') + ': ' }), error.message),
    error.stack ? h('pre', { class: 'stack', text: error.stack }) : null);
}

function download(name, type, text) {
  var url = URL.createObjectURL(new Blob([text], { type: type }));
  var a = h('a', { href: url, download: name, hidden: true });
  document.body.appendChild(a);
  a.click();
  setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
}

VIEWS.capture = function (main, r) {
  main.appendChild(h('p', { class: 'muted', text: 'Loading capture ' + r.arg + '…' }));
  api('GET', '/v1/captures/' + encodeURIComponent(r.arg)).then(function (c) {
    clear(main);
    var redacted = c.redacted || [];
    var copied = h('p', { class: 'muted', role: 'status' });
    var curlOut = h('pre', { class: 'curl', hidden: true, tabindex: '0', 'aria-label': 'curl command' });
    var actions = h('div', { class: 'actions' },
      h('a', { class: 'button primary', href: '#/replay/' + encodeURIComponent(c.seq), text: 'Replay' }),
      c.trace && c.trace.traceId ? h('a', { class: 'button', href: '#/trace/' + c.trace.traceId, text: 'Trace' }) : null,
      h('button', { type: 'button', id: 'copy-curl', onclick: function () {
        api('GET', '/v1/captures/' + encodeURIComponent(c.id) + '/export?format=curl', undefined, true).then(function (text) {
          curlOut.textContent = text.trim();
          curlOut.hidden = false;
          var done = function () { copied.textContent = 'Copied the curl command.'; };
          if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text.trim()).then(done, function () { copied.textContent = 'Select the command below and copy it.'; });
          else copied.textContent = 'Select the command below and copy it.';
        }).catch(function (err) { copied.textContent = err.message; });
      }, text: 'Copy as curl' }),
      h('button', { type: 'button', id: 'export-har', onclick: function () {
        api('GET', '/v1/captures/' + encodeURIComponent(c.id) + '/export?format=har', undefined, true).then(function (text) {
          download('capture-' + c.seq + '.har', 'application/json', text);
          copied.textContent = 'Exported capture-' + c.seq + '.har.';
        }).catch(function (err) { copied.textContent = err.message; });
      }, text: 'Export HAR' }));
    var facts = [
      ['Capture', c.seq + ' (' + c.id + ')'], ['Service', c.service], ['Instance', c.instance], ['Started', fmtTime(c.startedAt)],
      ['Duration', fmtMs(c.durationMs)], ['Destination', c.destination], ['Route', c.route || '—'],
      ['Trace', c.trace ? c.trace.traceId : '—'], ['Span', c.trace ? c.trace.spanId + (c.trace.parentSpanId ? ' (parent ' + c.trace.parentSpanId + ')' : '') : '—'],
      ['Rules', (c.rules || []).join(', ') || '—'], ['Redacted', redacted.join(', ') || 'nothing'],
    ];
    if (c.replayOf) facts.push(['Replay of', c.replayOf]);
    append(main, [
      h('h1', { class: 'title' }, h('span', { class: 'method', text: c.request.method }), ' ', h('span', { class: 'path', text: c.request.url }), ' ',
        h('span', { id: 'detail-status', class: statusClass(c.response.status), text: c.response.status + (c.response.statusMessage ? ' ' + c.response.statusMessage : '') + (c.response.aborted ? ' (aborted)' : '') })),
      actions, copied, curlOut,
      h('dl', { class: 'facts' }, facts.map(function (f) { return [h('dt', { text: f[0] }), h('dd', { text: f[1] })]; })),
      c.error ? section('Error', 's-error', errorView(c.error)) : null,
      h('div', { class: 'pair' },
        section('Request', 's-request', h('h3', { text: 'Headers' }), headerTable(c.request.headers, redacted, 'request.headers.', 'Request headers'),
          h('h3', { text: 'Body' }), bodyView(c.request.body, 'Request body')),
        section('Response', 's-response', h('h3', { text: 'Headers' }), headerTable(c.response.headers, redacted, 'response.headers.', 'Response headers'),
          h('h3', { text: 'Body' }), bodyView(c.response.body, 'Response body'))),
      section('Outbound calls (' + (c.outbound || []).length + (c.outboundOmitted ? ', ' + c.outboundOmitted + ' more not kept' : '') + ')', 's-outbound',
        (c.outbound || []).length ? h('ol', { class: 'outbound' }, c.outbound.map(function (call, i) {
          return h('li', null, h('details', null,
            h('summary', null, h('span', { class: 'method', text: call.method }), ' ', call.url, ' ',
              h('span', { class: statusClass(call.status), text: call.status ? String(call.status) : (call.error ? 'failed' : 'no answer') }), ' ',
              h('span', { class: 'muted', text: fmtMs(call.durationMs) })),
            h('div', { class: 'pair' },
              h('div', null, h('h4', { text: 'Request headers' }), headerTable(call.request && call.request.headers, redacted, 'outbound[' + i + '].request.headers.', 'Outbound request headers'),
                h('h4', { text: 'Request body' }), bodyView(call.request && call.request.body, 'Outbound request body')),
              h('div', null, h('h4', { text: 'Response headers' }), headerTable(call.response && call.response.headers, redacted, 'outbound[' + i + '].response.headers.', 'Outbound response headers'),
                h('h4', { text: 'Response body' }), bodyView(call.response && call.response.body, 'Outbound response body'))),
            call.remoteAddress ? h('p', { class: 'muted', text: 'Connected to ' + call.remoteAddress }) : null,
            call.spanId ? h('p', { class: 'muted', text: 'Span ' + call.spanId }) : null,
            call.error ? errorView(call.error) : null));
        })) : h('p', { class: 'muted', text: 'None.' })),
    ]);
    document.title = 'Capture ' + c.seq + ' · httploop';
  }).catch(function (err) {
    clear(main);
    main.appendChild(errorBox(err));
  });
};
`;
