// One batch run: summary, charts, filters, and the prompt x provider/model matrix of answers.
// Self-contained (no imports): the console imports it, and `multillm batch report` inlines it into
// matrix.html, which must work opened from disk. Everything from the data goes in through
// textContent, never innerHTML, so an answer cannot inject markup.

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function targetOf(row) {
  return `${row.provider}/${row.model}`;
}

function answerOf(row) {
  const choices = row.response && row.response.body && row.response.body.choices;
  return choices && choices[0] ? choices[0].message.content || "" : "";
}

// The same rules as producers/batch/report.py's `score`.
function scored(answer, expected, how) {
  if (how === "exact") return answer.trim().toLowerCase() === expected.trim().toLowerCase();
  if (how === "regex") {
    try { return new RegExp(expected).test(answer); } catch { return false; }
  }
  return answer.toLowerCase().includes(expected.trim().toLowerCase());
}

// What one cell shows: error (with its class), pass, fail, judge error, or answered (nothing to score).
function outcomeOf(row, how) {
  if (row.error) return { kind: "error", label: row.error.code || "error" };
  const judge = row.metrics && row.metrics.judge;
  if (how === "judge") {
    if (!judge) return { kind: "answered", label: row.expected == null ? "answered" : "not judged" };
    if (judge.error) return { kind: "judge-error", label: `judge ${judge.error.code || "error"}` };
    return { kind: judge.verdict, label: judge.verdict };
  }
  if (row.expected == null) return { kind: "answered", label: "answered" };
  return scored(answerOf(row), String(row.expected), how) ? { kind: "pass", label: "pass" } : { kind: "fail", label: "fail" };
}

function linesOf(rows) {
  const lines = new Map();
  for (const row of rows) {
    if (!lines.has(row.custom_id)) {
      lines.set(row.custom_id, { id: row.custom_id, prompt: row.prompt || "", expected: row.expected, cells: {} });
    }
    lines.get(row.custom_id).cells[targetOf(row)] = row;
  }
  return [...lines.values()];
}

function failed(line, how) {
  return Object.values(line.cells).some((row) => ["error", "fail", "judge-error"].includes(outcomeOf(row, how).kind));
}

function disagreeing(line, how) {
  return new Set(Object.values(line.cells).map((row) => outcomeOf(row, how).kind)).size > 1;
}

const fmt = {
  s: (v) => (v == null ? "–" : `${v.toFixed(2)} s`),
  usd: (v) => (v == null ? "–" : `$${v.toFixed(6)}`),
  pct: (v) => (v == null ? "–" : `${Math.round(v * 100)}%`),
  n: (v) => (v == null ? "–" : Number(v).toLocaleString("en")),
};

function summaryTable(figures) {
  if (!figures || !figures.length) return el("p", {}, "No rows yet.");
  const columns = Object.keys(figures[0]);
  const show = (value, column) => {
    if (column === "success" || column === "score") return fmt.pct(value);
    if (column.endsWith("$")) return fmt.usd(value);
    if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(3);
    return value == null ? "–" : String(value);
  };
  return el("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Figures per provider/model" },
    el("table", { class: "figures" },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, figures.map((f) => el("tr", {}, columns.map((c, i) =>
        i === 0 ? el("th", { scope: "row" }, f[c]) : el("td", {}, show(f[c], c))))))));
}

// A horizontal bar chart: one bar per target, each a stack of segments (the report's PNG plots, drawn
// with divs so the page needs no chart library and no canvas).
function barChart(title, items, unit) {
  const max = Math.max(1e-12, ...items.map((it) => it.segments.reduce((a, s) => a + s.value, 0)));
  const names = [...new Map(items.flatMap((it) => it.segments).map((s) => [s.name, s.cls])).entries()];
  return el("figure", { class: "chart" },
    el("figcaption", {}, title),
    items.map((it) => {
      const total = it.segments.reduce((a, s) => a + s.value, 0);
      const bar = el("div", { class: "bar", role: "img",
        "aria-label": `${it.label}: ${it.segments.map((s) => `${s.name} ${unit(s.value)}`).join(", ")}` });
      for (const s of it.segments) {
        const part = el("span", { class: `seg ${s.cls}`, title: `${s.name}: ${unit(s.value)}` });
        part.style.width = `${(100 * s.value) / max}%`;
        bar.append(part);
      }
      return el("div", { class: "bar-row" }, el("span", { class: "bar-label" }, it.label), bar,
        el("span", { class: "bar-value" }, unit(total)));
    }),
    names.length > 1 ? el("p", { class: "legend" }, names.map(([name, cls]) => el("span", {}, el("i", { class: `seg ${cls}` }), name))) : null);
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function charts(rows, targets, how) {
  const of = (t) => rows.filter((r) => targetOf(r) === t);
  const verdicts = ["pass", "fail", "judge-error", "error", "answered"];
  return el("div", { class: "charts" },
    barChart("Latency p50 (answered)", targets.map((t) => ({ label: t, segments: [
      { name: "latency", cls: "c-time", value: median(of(t).filter((r) => !r.error).map((r) => r.metrics.latency_s || 0)) || 0 }] })), fmt.s),
    barChart("Outcomes", targets.map((t) => ({ label: t, segments: verdicts.map((v) => ({
      name: v, cls: `c-${v}`, value: of(t).filter((r) => outcomeOf(r, how).kind === v).length })) })), (v) => String(v)),
    barChart("Cost", targets.map((t) => ({ label: t, segments: [
      { name: "answers", cls: "c-cost", value: of(t).reduce((a, r) => a + (r.metrics.cost_usd || 0), 0) },
      { name: "judge", cls: "c-judge", value: of(t).reduce((a, r) => a + ((r.metrics.judge && r.metrics.judge.cost_usd) || 0), 0) }] })), fmt.usd),
    barChart("Tokens", targets.map((t) => ({ label: t, segments: [
      { name: "in", cls: "c-in", value: of(t).reduce((a, r) => a + (r.metrics.input_tokens || 0), 0) },
      { name: "out", cls: "c-out", value: of(t).reduce((a, r) => a + (r.metrics.output_tokens || 0), 0) }] })), fmt.n));
}

function cell(row, how) {
  if (!row) return el("td", { class: "missing" }, "not yet");
  const outcome = outcomeOf(row, how);
  const judge = row.metrics.judge;
  const text = row.error ? row.error.message : answerOf(row);
  return el("td", { class: `cell o-${outcome.kind}` },
    el("span", { class: `badge k-${outcome.kind}` }, outcome.label),
    text.length > 240 ? el("details", {}, el("summary", {}, text.slice(0, 200) + "…"), el("p", { class: "answer" }, text))
      : el("p", { class: "answer" }, text),
    judge && (judge.reason || judge.error) ? el("p", { class: "reason" }, el("b", {}, "Judge: "),
      judge.reason || (judge.error && judge.error.message) || "") : null,
    el("p", { class: "meta" }, `${fmt.s(row.metrics.latency_s)} · ${fmt.n(row.metrics.output_tokens)} tok · ${fmt.usd(row.metrics.cost_usd)}`));
}

function matrixTable(lines, targets, how) {
  return el("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Answers: prompts by provider/model" },
    el("table", { class: "matrix" },
      el("caption", { class: "sr-only" }, "Each prompt's expected answer and every provider/model's answer"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Prompt"), el("th", { scope: "col" }, "Expected"),
        targets.map((t) => el("th", { scope: "col" }, t)))),
      el("tbody", {}, lines.map((line) => el("tr", {},
        el("th", { scope: "row", class: "prompt" }, el("span", { class: "cid" }, line.id), el("p", {}, line.prompt)),
        el("td", { class: "expected" }, line.expected == null ? "–" : String(line.expected)),
        targets.map((t) => cell(line.cells[t], how)))))));
}

function filterBar(view, targets, rerender) {
  const check = (name, label) => el("label", {}, el("input", { type: "checkbox", name, checked: view[name],
    onchange: (e) => { view[name] = e.target.checked; rerender(); } }), ` ${label}`);
  return el("form", { class: "filters", "aria-label": "Filter the matrix", onsubmit: (e) => e.preventDefault() },
    check("failed", "Failed only"), check("disagreeing", "Disagreeing only"),
    el("span", {}, el("label", { for: "filter-target" }, "Provider/model"), " ",
      el("select", { id: "filter-target", name: "target", onchange: (e) => { view.target = e.target.value; rerender(); } },
        el("option", { value: "" }, "all"),
        targets.map((t) => el("option", { value: t, selected: view.target === t }, t)))));
}

// `view` holds the filters, so a live refresh keeps them: {failed, disagreeing, target}.
function renderBatch(root, batch, view) {
  const how = batch.scoring || "contains";
  const rows = batch.rows || [];
  const targets = batch.targets && batch.targets.length ? batch.targets : [...new Set(rows.map(targetOf))].sort();
  const draw = () => {
    const shown = view.target ? [view.target] : targets;
    const lines = linesOf(rows).filter((line) => (!view.failed || failed(line, how)) && (!view.disagreeing || disagreeing(line, how)));
    const count = el("p", { class: "count", role: "status" }, `${lines.length} of ${linesOf(rows).length} prompts shown`);
    holder.replaceChildren(filterBar(view, targets, draw), count, matrixTable(lines, shown, how));
    const focused = view.focus && holder.querySelector(`[name="${view.focus}"]`);
    if (focused) focused.focus();
  };
  const holder = el("section", { "aria-label": "Matrix", class: "matrix-holder" });
  holder.addEventListener("focusin", (e) => { view.focus = e.target.name || null; });
  root.replaceChildren(
    el("h1", {}, `Batch ${batch.id}`),
    el("p", { class: "sub" }, `${batch.state || "finished"} · ${fmt.n(batch.done)} of ${fmt.n(batch.total)} answered · `
      + `${fmt.n(batch.failed)} failed · scoring: ${how}`),
    el("h2", {}, "Figures"), summaryTable(batch.figures),
    el("h2", {}, "Charts"), charts(rows, targets, how),
    el("h2", {}, "Answers"), holder);
  draw();
}

export { renderBatch, el };
