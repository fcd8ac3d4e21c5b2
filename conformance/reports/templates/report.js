// The matrix of the HTML report: built from the embedded JSON with DOM methods and
// textContent only (never innerHTML), so nothing from the report is parsed as markup.
// State lives in the URL hash (#framework=torch&verdict=fail&cell=ADAPTER|CASE), so a
// filtered view or an open cell can be linked to.
"use strict";
(async function () {
  const data = await inflate(document.getElementById("report-data").textContent.trim());
  // rows of indices into data.tables (one per field), then what a check that ran adds
  const checks = data.checks.map((row) => {
    const check = {};
    data.fields.forEach((field, i) => { check[field] = data.tables[field][row[i]]; });
    Object.assign(check, row[data.fields.length] || {});
    check.id = check.adapter + "-" + check.device + "-" + check.dtype + "-" + check.case + ":" +
      check.reduction + (check.quantity === "value" ? "" : ":" + check.quantity);
    return check;
  });
  const RANK = { pass: 0, convention: 1, accepts_invalid: 2, skip: -1, fail: 3, error: 3 };
  const filters = {
    framework: document.getElementById("f-framework"),
    dtype: document.getElementById("f-dtype"),
    device: document.getElementById("f-device"),
    file: document.getElementById("f-file"),
    verdict: document.getElementById("f-verdict"),
  };
  const fileOf = (c) => c.case.split("/")[0];
  const valueOf = { framework: (c) => c.framework, dtype: (c) => c.dtype, device: (c) => c.device,
                    file: fileOf, verdict: (c) => c.verdict };

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  for (const [name, select] of Object.entries(filters)) {
    const values = [...new Set(checks.map(valueOf[name]))].sort();
    for (const v of values) select.appendChild(el("option", v)).value = v;
    select.addEventListener("change", () => { writeHash(); draw(); });
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const [name, select] of Object.entries(filters)) {
      const v = params.get(name);
      select.value = v !== null && [...select.options].some((o) => o.value === v) ? v : "";
    }
    return params.get("cell");
  }

  function writeHash(cell) {
    const params = new URLSearchParams();
    for (const [name, select] of Object.entries(filters)) if (select.value) params.set(name, select.value);
    if (cell) params.set("cell", cell);
    history.replaceState(null, "", "#" + params.toString());
  }

  function selected() {
    return checks.filter((c) => Object.entries(filters).every(([n, s]) => !s.value || valueOf[n](c) === s.value));
  }

  function draw() {
    const rows = new Map();
    const cases = new Set();
    for (const c of selected()) {
      cases.add(c.case);
      if (!rows.has(c.adapter)) rows.set(c.adapter, new Map());
      const row = rows.get(c.adapter);
      if (!row.has(c.case)) row.set(c.case, []);
      row.get(c.case).push(c);
    }
    const caseList = [...cases].sort();
    const table = document.getElementById("matrix-table");
    table.replaceChildren();
    const head = table.insertRow();
    head.appendChild(el("th", "adapter \\ case"));
    for (const name of caseList) head.appendChild(el("th", name, "case"));
    for (const [adapter, row] of [...rows.entries()].sort()) {
      const tr = table.insertRow();
      tr.appendChild(el("th", adapter, "name"));
      for (const name of caseList) {
        const td = tr.insertCell();
        const cell = row.get(name);
        if (!cell) continue;
        const worst = cell.reduce((a, c) => (RANK[c.verdict] > RANK[a.verdict] ? c : a));
        const errors = cell.map((c) => toNumber(c.error)).filter((e) => e !== null);
        const error = errors.length ? Math.max(...errors) : null;
        td.className = "cell v-" + worst.verdict;
        td.textContent = worst.verdict + (error === null ? "" : " " + (isFinite(error) ? error.toPrecision(3) : "inf"));
        td.title = adapter + " | " + name + ": " + cell.length + " check(s)";
        td.dataset.cell = adapter + "|" + name;
        td.addEventListener("click", () => { writeHash(td.dataset.cell); show(td.dataset.cell); });
      }
    }
  }

  function show(key) {
    const detail = document.getElementById("detail");
    const [adapter, name] = key.split("|");
    const cell = selected().filter((c) => c.adapter === adapter && c.case === name);
    detail.replaceChildren();
    detail.hidden = false;
    detail.appendChild(el("h3", adapter + " on " + name));
    detail.appendChild(el("p", data.apis[adapter] || "", "api"));
    const info = data.cases[name];
    if (info) detail.appendChild(el("p", info.description, "description"));
    cell.sort((a, b) => RANK[b.verdict] - RANK[a.verdict]);
    for (const c of cell) detail.appendChild(checkBlock(c));
    detail.scrollIntoView();
  }

  function checkBlock(c) {
    const box = el("div", null, "check v-" + c.verdict);
    box.appendChild(el("h4", c.verdict + ": " + c.id));
    if (c.verdict === "skip") return box;
    const facts = el("p");
    facts.textContent = "error " + fmt(c.raw_error) + " ULP (tolerance " + fmt(c.tolerance) +
      "), relative error " + fmt(c.relative_error) + "; machine " + c.machine;
    box.appendChild(facts);
    if (c.detail) box.appendChild(el("p", c.detail, "detail"));
    if (c.conventions && c.conventions.length) box.appendChild(el("p", "conventions applied: " + c.conventions.join(", ")));
    if (c.known_bug) {
      const p = el("p", "known bug: " + c.known_bug.reason + " ");
      p.appendChild(link(c.known_bug.link));
      box.appendChild(p);
    }
    if (c.values) box.appendChild(valuesTable(c.values));
    else if (c.verdict === "pass") box.appendChild(el("p", "values: in the JSON report", "note"));
    if (c.reproducer) {
      const pre = el("pre", c.reproducer, "reproducer");
      const button = el("button", "copy reproducer");
      button.type = "button";
      button.addEventListener("click", () => copy(c.reproducer, button));
      box.appendChild(button);
      box.appendChild(pre);
    }
    return box;
  }

  function valuesTable(values) {
    const wrap = el("div");
    wrap.appendChild(el("p", (values.all_elements ? "all " : "worst " + values.elements.length + " of ") +
      values.compared + " value(s); " + values.outside_tolerance + " outside tolerance; median error " +
      fmt(values.median_error_ulps) + " ULP"));
    const table = el("table", null, "values");
    const head = table.insertRow();
    for (const h of ["index", "input", "target", "framework returned", "mathematically correct", "error (ULP)"]) head.appendChild(el("th", h));
    for (const e of values.elements) {
      const tr = table.insertRow();
      for (const v of [e.index, e.input, e.target, e.got, e.expected, e.error_ulps]) tr.insertCell().textContent = fmt(v);
    }
    wrap.appendChild(table);
    return wrap;
  }

  function toNumber(v) {
    // the report writes non-finite floats as "inf", "-inf", "nan"
    if (v === null || v === undefined) return null;
    return typeof v === "string" ? Number(v.replace("inf", "Infinity")) : v;
  }

  function fmt(v) {
    return v === null || v === undefined ? "-" : String(v);
  }

  function link(href) {
    // only http(s) becomes a link: a javascript: or data: URL from a registry entry must not run
    if (/^https?:\/\//i.test(href)) {
      const a = el("a", href);
      a.href = href;
      a.rel = "noopener noreferrer";
      return a;
    }
    return el("span", href);
  }

  function copy(text, button) {
    const done = () => { button.textContent = "copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
    } else {
      fallbackCopy(text, done);
    }
  }

  function fallbackCopy(text, done) {
    const area = el("textarea", text);
    document.body.appendChild(area);
    area.select();
    if (document.execCommand("copy")) done();
    area.remove();
  }

  const cell = readHash();
  draw();
  if (cell) show(cell);
  document.body.dataset.ready = "true";
})();

// The page data is gzip-compressed JSON in base64 (see conformance/reports/html.py).
async function inflate(base64) {
  const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}
