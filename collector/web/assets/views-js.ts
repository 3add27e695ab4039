// The console's script, part 3 of 3: trace waterfall, replay with its side-by-side diff, rules
// (TapConfigs), diagnostics; then the start.
export const VIEWS_JS = String.raw`
VIEWS.trace = function (main, r) {
  main.appendChild(h('p', { class: 'muted', text: 'Loading trace…' }));
  api('GET', '/v1/traces/' + encodeURIComponent(r.arg)).then(function (data) {
    clear(main);
    var hops = data.captures.map(function (c) {
      var start = Date.parse(c.startedAt);
      return { c: c, start: start, end: start + c.durationMs, children: [], depth: 0 };
    });
    var bySpan = {};
    var byCall = {};
    hops.forEach(function (hop) {
      bySpan[hop.c.trace.spanId] = hop;
      (hop.c.outbound || []).forEach(function (call) { if (call.spanId) byCall[call.spanId] = hop; });
    });
    var roots = [];
    hops.forEach(function (hop) {
      var p = hop.c.trace.parentSpanId;
      var parent = p && (byCall[p] || bySpan[p]);
      if (parent && parent !== hop) parent.children.push(hop);
      else roots.push(hop);
    });
    var t0 = Math.min.apply(null, hops.map(function (x) { return x.start; }));
    var t1 = Math.max.apply(null, hops.map(function (x) { return x.end; }));
    var total = Math.max(t1 - t0, 1);
    var rows = [];
    var walk = function (hop, depth) {
      hop.depth = depth;
      rows.push(hop);
      hop.children.sort(function (a, b) { return a.start - b.start; }).forEach(function (child) { walk(child, depth + 1); });
    };
    roots.sort(function (a, b) { return a.start - b.start; }).forEach(function (root) { walk(root, 0); });
    var services = [];
    rows.forEach(function (x) { if (services.indexOf(x.c.service) < 0) services.push(x.c.service); });
    var scale = h('div', { class: 'scale', 'aria-hidden': 'true' }, [0, 0.25, 0.5, 0.75, 1].map(function (f) {
      return h('span', { style: 'left:' + (f * 100) + '%', text: fmtMs(total * f) });
    }));
    append(main, [
      h('h1', { text: 'Trace ' + data.traceId }),
      h('p', { class: 'summary', text: rows.length + ' hops across ' + services.length + ' services (' + services.join(', ') + '), ' + fmtMs(total) +
        (data.total > data.captures.length ? '; showing the first ' + data.captures.length + ' of ' + data.total : '') }),
      h('div', { class: 'waterfall', role: 'table', 'aria-label': 'Hops of the trace' },
        h('div', { class: 'wf-row wf-head', role: 'row' }, h('span', { role: 'columnheader', text: 'Hop' }), h('span', { role: 'columnheader', class: 'wf-track' }, scale)),
        rows.map(function (x) {
          var left = ((x.start - t0) / total) * 100;
          var width = Math.max((x.c.durationMs / total) * 100, 0.5);
          var label = x.c.service + ' ' + x.c.request.method + ' ' + pathOf(x.c.request.url);
          return h('div', { class: 'wf-row', role: 'row', 'data-service': x.c.service },
            h('span', { role: 'cell', class: 'wf-label', style: 'padding-left:' + (x.depth * 1.25 + 0.25) + 'rem' },
              h('a', { href: '#/capture/' + x.c.seq, text: label }), ' ',
              h('span', { class: statusClass(x.c.response.status), text: String(x.c.response.status) }), ' ',
              h('span', { class: 'muted', text: fmtMs(x.c.durationMs) })),
            h('span', { role: 'cell', class: 'wf-track' },
              h('span', { class: 'wf-bar ' + statusClass(x.c.response.status), style: 'left:' + left + '%;width:' + width + '%',
                title: label + ' — ' + x.c.response.status + ', ' + fmtMs(x.c.durationMs) + ', starts at +' + fmtMs(x.start - t0) })));
        })),
    ]);
    document.title = 'Trace · httploop';
  }).catch(function (err) { clear(main); main.appendChild(errorBox(err)); });
};

function responseColumn(title, response, lines, marks, differing) {
  var headerRows = (response.headers || []).map(function (pair) {
    var bad = differing.indexOf(pair[0].toLowerCase()) >= 0;
    return h('tr', { class: bad ? 'changed' : null }, h('th', { scope: 'row', text: pair[0] }), h('td', { text: pair[1] }));
  });
  var body;
  if (lines) {
    body = h('ol', { class: 'lines' }, lines.map(function (line, i) {
      return h('li', { class: marks[i] ? 'changed' : null }, h('code', { text: line }));
    }));
  } else {
    body = h('p', { class: 'muted', text: 'Binary or encoded body: compared byte by byte.' });
  }
  return h('section', { class: 'panel side', 'aria-label': title },
    h('h3', null, title + ' ', h('span', { class: statusClass(response.status), text: response.status + (response.statusMessage ? ' ' + response.statusMessage : '') })),
    h('table', { class: 'headers' }, h('tbody', null, headerRows)),
    body);
}

VIEWS.replay = function (main, r) {
  var id = r.arg;
  main.appendChild(h('p', { class: 'muted', text: 'Loading capture ' + id + '…' }));
  api('GET', '/v1/captures/' + encodeURIComponent(id)).then(function (c) {
    clear(main);
    var destination = h('input', { id: 'r-destination', type: 'text', value: c.destination, placeholder: 'host:port or http(s) URL', autocomplete: 'off' });
    var headers = h('textarea', { id: 'r-headers', rows: '3', placeholder: 'X-Debug: 1', spellcheck: 'false' });
    var allowRedacted = h('input', { id: 'r-allow-redacted', type: 'checkbox' });
    var out = h('div', { id: 'replay-result', 'aria-live': 'polite' });
    var run = h('button', { type: 'submit', class: 'primary', text: 'Run replay' });
    var form = h('form', { class: 'replay-form' },
      field('Destination', destination, 'Must be on the collector\'s --replay-allow list.'),
      field('Extra headers (one per line)', headers),
      h('div', { class: 'check' }, allowRedacted, h('label', { for: 'r-allow-redacted', text: 'Send redacted values as they are ([REDACTED])' })),
      h('div', { class: 'actions' }, run));
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      clear(out);
      var extra;
      try { extra = parseHeaderLines(headers.value); } catch (err) { out.appendChild(errorBox(err)); return; }
      run.disabled = true;
      out.appendChild(h('p', { class: 'muted', text: 'Replaying…' }));
      var payload = { headers: extra };
      if (destination.value.trim()) payload.destination = destination.value.trim();
      if (allowRedacted.checked) payload.allowRedacted = true;
      api('POST', '/v1/captures/' + encodeURIComponent(c.id) + '/replay', payload).then(function (replay) {
        return api('POST', '/v1/captures/' + encodeURIComponent(c.id) + '/diff', { response: replay.response }).then(function (result) {
          clear(out);
          var d = result.diff;
          var differing = (d.headers || []).map(function (x) { return x.name; });
          var marksA = {};
          var marksB = {};
          var sides = result.sides;
          (sides ? sides.hunks : []).forEach(function (hk) {
            for (var i = hk.aStart; i < hk.aEnd; i++) marksA[i] = true;
            for (var j = hk.bStart; j < hk.bEnd; j++) marksB[j] = true;
          });
          var details = [];
          if (d.status) details.push('status ' + d.status.captured + ' → ' + d.status.replayed);
          (d.headers || []).forEach(function (x) { details.push('header ' + x.name + ': ' + (x.captured === undefined ? '(none)' : x.captured) + ' → ' + (x.replayed === undefined ? '(none)' : x.replayed)); });
          if (d.body) details = details.concat(d.body.details);
          append(out, [
            h('p', { id: 'verdict', class: d.same ? 'verdict same' : 'verdict differs', text: d.same ? 'Same: the replay answered like the capture (volatile headers ignored).' : 'Differs from the capture.' }),
            h('p', { class: 'muted', text: 'Sent to ' + replay.destination + ' (' + replay.address + ') in ' + fmtMs(replay.response.durationMs) + '.' }),
            details.length ? h('ul', { class: 'diff-details' }, details.map(function (t) { return h('li', { text: t }); })) : null,
            h('div', { class: 'pair sides' },
              responseColumn('Captured', c.response, sides && sides.captured, marksA, differing),
              responseColumn('Replayed', replay.response, sides && sides.replayed, marksB, differing)),
          ]);
          announce(d.same ? 'Replay: same' : 'Replay: differs');
        });
      }).catch(function (err) {
        clear(out);
        out.appendChild(errorBox(err));
      }).then(function () { run.disabled = false; });
    });
    append(main, [
      h('h1', null, 'Replay capture ', h('a', { href: '#/capture/' + c.seq, text: String(c.seq) })),
      h('p', { class: 'summary', text: c.request.method + ' ' + c.request.url + ' → ' + c.response.status + ', sent by the collector' }),
      form, out,
    ]);
    destination.focus();
  }).catch(function (err) { clear(main); main.appendChild(errorBox(err)); });
};

var EXAMPLE_RULE = [
  'apiVersion: httploop/v1',
  'kind: TapConfig',
  'metadata:',
  '  name: server-errors',
  'spec:',
  '  match: responseHeaders[":status"] == prefix("5")',
  '',
].join('\n');

VIEWS.rules = function (main) {
  var list = h('div', { id: 'rules-list' }, h('p', { class: 'muted', text: 'Loading…' }));
  var editor = h('textarea', { id: 'yaml', rows: '14', spellcheck: 'false', wrap: 'off', 'aria-describedby': 'yaml-help yaml-problems' });
  editor.value = EXAMPLE_RULE;
  var gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  var problems = h('div', { id: 'yaml-problems', 'aria-live': 'polite' });
  var errorLines = {};
  var paint = function () {
    var n = editor.value.split('\n').length;
    clear(gutter);
    for (var i = 1; i <= n; i++) gutter.appendChild(h('span', { class: errorLines[i] ? 'bad' : null, text: String(i) + '\n' }));
    gutter.scrollTop = editor.scrollTop;
  };
  editor.addEventListener('input', function () { errorLines = {}; paint(); });
  editor.addEventListener('scroll', function () { gutter.scrollTop = editor.scrollTop; });
  var goTo = function (line, column) {
    var lines = editor.value.split('\n');
    var at = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    at += Math.max(0, (column || 1) - 1);
    editor.focus();
    editor.setSelectionRange(at, at);
  };
  var apply = h('button', { type: 'submit', class: 'primary', text: 'Apply' });
  var form = h('form', { class: 'rule-form', 'aria-labelledby': 'apply-title' },
    h('h2', { id: 'apply-title', text: 'Apply a TapConfig' }),
    h('label', { for: 'yaml', text: 'YAML (several resources may be separated by ---)' }),
    h('div', { class: 'editor' }, gutter, editor),
    h('p', { id: 'yaml-help', class: 'help', text: 'All of them are applied, or none when any is invalid. Every running loop() follows within seconds.' }),
    problems,
    h('div', { class: 'actions' }, apply));
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clear(problems);
    errorLines = {};
    apply.disabled = true;
    api('POST', '/v1/tapconfig-check', editor.value).then(function (checked) {
      return api('POST', '/v1/tapconfigs', { tapconfigs: checked.tapconfigs }).then(function (result) {
        problems.appendChild(h('p', { class: 'ok', role: 'status', text: result.results.map(function (x) { return 'tapconfig/' + x.name + ' ' + x.action; }).join(', ') + ' (rules version ' + result.version + ')' }));
        load();
      });
    }).catch(function (err) {
      var found = err.body && err.body.error && err.body.error.problems;
      if (found && found.length && found[0].line !== undefined) {
        problems.appendChild(h('ul', { class: 'problems', role: 'alert' }, found.map(function (p) {
          errorLines[p.line] = true;
          return h('li', null, h('button', { type: 'button', class: 'link', onclick: function () { goTo(p.line, p.column); },
            text: 'line ' + p.line + ', column ' + p.column }), ': ' + p.message);
        })));
        goTo(found[0].line, found[0].column);
      } else {
        problems.appendChild(errorBox(err));
      }
    }).then(function () { apply.disabled = false; paint(); });
  });

  function load() {
    api('GET', '/v1/tapconfigs').then(function (data) {
      clear(list);
      var items = data.tapconfigs || [];
      list.appendChild(h('p', { class: 'summary', text: items.length + ' TapConfig' + (items.length === 1 ? '' : 's') + ', rules version ' + data.version }));
      if (items.length) {
        list.appendChild(h('div', { class: 'table-wrap' }, h('table', { class: 'rules' },
          h('thead', null, h('tr', null, ['Name', 'Match', 'Version', 'Captured', 'Updated', ''].map(function (t) { return h('th', { scope: 'col', text: t }); }))),
          h('tbody', null, items.map(function (t) {
            var name = t.resource.metadata.name;
            var match = t.resource.spec && t.resource.spec.match;
            var del = h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + name, text: 'Delete' });
            del.addEventListener('click', function () {
              if (del.getAttribute('data-confirm') !== '1') {
                del.setAttribute('data-confirm', '1');
                del.textContent = 'Confirm delete';
                return;
              }
              api('DELETE', '/v1/tapconfigs/' + encodeURIComponent(name)).then(function () { announce('Deleted ' + name); load(); })
                .catch(function (err) { list.appendChild(errorBox(err)); });
            });
            return h('tr', { 'data-name': name },
              h('th', { scope: 'row', text: name }),
              h('td', null, h('code', { text: typeof match === 'string' ? match : JSON.stringify(match) })),
              h('td', { class: 'num', text: String(t.version) }),
              h('td', { class: 'num' }, h('a', { href: '#/captures?rule=' + encodeURIComponent(name), text: String(t.captured) })),
              h('td', { text: fmtTime(new Date(t.updatedAt).toISOString()) }),
              h('td', null, del));
          })))));
      }
      var agents = data.agents || [];
      list.appendChild(h('h2', { text: 'Running loop() agents (' + agents.length + ')' }));
      list.appendChild(agents.length ? h('ul', { class: 'agents' }, agents.map(function (a) {
        return h('li', { text: a.service + ' ' + a.instance + ': rules version ' + a.version + ' (' + a.source + '), seen ' + fmtTime(new Date(a.seenAt).toISOString()) });
      })) : h('p', { class: 'muted', text: 'None polled in the last two minutes.' }));
    }).catch(function (err) { clear(list); list.appendChild(errorBox(err)); });
  }

  append(main, [h('h1', { text: 'Rules' }), list, form]);
  paint();
  load();
};

function hopView(hop, n) {
  return h('li', { class: 'hop panel' },
    h('h3', null, 'Hop ' + n + ': ' + hop.service + ' ', h('span', { class: statusClass(hop.status), text: String(hop.status) }), ' ', h('span', { class: 'muted', text: fmtMs(hop.durationMs) })),
    h('dl', { class: 'facts' }, [
      ['Instance', hop.instance], ['Request', hop.method + ' ' + hop.path], ['Route', hop.route || '—'],
      ['Rules that would capture', (hop.rules || []).join(', ') || 'none'], ['Trace', hop.traceId ? hop.traceId + ' / ' + hop.spanId : '—'],
    ].map(function (f) { return [h('dt', { text: f[0] }), h('dd', { text: f[1] })]; })),
    (hop.outbound || []).length ? h('table', { class: 'headers' },
      h('thead', null, h('tr', null, ['Outbound', 'Addresses', 'Connected to', 'Status', 'Duration'].map(function (t) { return h('th', { scope: 'col', text: t }); }))),
      h('tbody', null, hop.outbound.map(function (o) {
        return h('tr', null, h('td', { text: o.method + ' ' + o.url }), h('td', { text: (o.addresses || []).join(', ') }), h('td', { text: o.selectedAddress || '—' }),
          h('td', { text: o.status ? String(o.status) : (o.error || '—') }), h('td', { text: fmtMs(o.durationMs) }));
      }))) : h('p', { class: 'muted', text: 'No outgoing calls.' }));
}

VIEWS.diag = function (main) {
  var url = h('input', { id: 'd-url', type: 'url', placeholder: 'http://127.0.0.1:9090/users/42', autocomplete: 'off' });
  var token = h('input', { id: 'd-token', type: 'password', autocomplete: 'off' });
  var method = h('select', { id: 'd-method' }, [['', 'TRACE (as is)'], ['GET', 'GET'], ['HEAD', 'HEAD'], ['OPTIONS', 'OPTIONS']].map(function (o) { return h('option', { value: o[0], text: o[1] }); }));
  var maxForwards = h('input', { id: 'd-max-forwards', type: 'number', min: '0', step: '1' });
  var headers = h('textarea', { id: 'd-headers', rows: '2', spellcheck: 'false', placeholder: 'X-Debug: 1' });
  var out = h('div', { id: 'diag-result', 'aria-live': 'polite' });
  var send = h('button', { type: 'submit', class: 'primary', text: 'Send diagnostic TRACE' });
  var form = h('form', { class: 'diag-form' },
    field('URL', url, 'The collector sends the request; the destination must be on its --replay-allow list.'),
    field('Diagnostic token', token, 'The token the services were configured with (loop({ diagnostics: { token } }) or LOOP_DIAG_TOKEN).'),
    field('Handlers see method', method), field('Max-Forwards', maxForwards), field('Extra headers (one per line)', headers),
    h('div', { class: 'actions' }, send));
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clear(out);
    var payload;
    try {
      payload = { url: url.value.trim(), token: token.value, headers: parseHeaderLines(headers.value) };
    } catch (err) { out.appendChild(errorBox(err)); return; }
    if (method.value) payload.method = method.value;
    if (maxForwards.value !== '') payload.maxForwards = Number(maxForwards.value);
    send.disabled = true;
    api('POST', '/v1/diag', payload).then(function (answer) {
      var hops = answer.trail ? answer.trail.hops.slice().reverse() : [];
      append(out, [
        h('p', { class: 'summary' }, answer.url + ' answered ', h('span', { class: statusClass(answer.status), text: answer.status + ' ' + answer.statusMessage })),
        answer.trail ? h('p', { text: hops.length + ' hop' + (hops.length === 1 ? '' : 's') + ', in the order the request passed them:' }) : h('p', { class: 'error', role: 'alert', text: answer.note }),
        hops.length ? h('ol', { class: 'hops' }, hops.map(function (hop, i) { return hopView(hop, i + 1); })) : null,
        answer.trail && answer.trail.body !== null ? section('Innermost answer body', 's-innermost', h('pre', { class: 'text', text: answer.trail.body })) : null,
      ]);
    }).catch(function (err) { out.appendChild(errorBox(err)); }).then(function () { send.disabled = false; });
  });
  append(main, [h('h1', { text: 'Diagnostics' }), form, out]);
};

window.addEventListener('hashchange', route);
state.token = sessionStorage.getItem(TOKEN_KEY);
if (state.token === null) renderSignIn();
else startApp();
`;
