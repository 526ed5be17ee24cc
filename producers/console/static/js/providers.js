// Providers: the fallback order with health, circuit and the quotas of the key this tenant's jobs
// use; then this tenant's usage per day and model.
import { api } from "./api.js";
import { el } from "./matrix.js";

const pct = (v) => (v == null ? "–" : `${Math.round(v * 100)}%`);
const secs = (v) => (v == null ? "–" : `${v.toFixed(2)} s`);

function quotaCell(q) {
  if (!q) return el("td", {}, "no key for this tenant");
  const windows = q.windows.map((w) => el("li", {}, `${w.name} (${w.window_s} s): ${w.used.toLocaleString("en")} / ${w.limit.toLocaleString("en")}`));
  return el("td", {}, el("ul", { class: "plain" },
    windows.length ? windows : el("li", {}, "no limits set"),
    el("li", {}, `concurrent ${q.concurrent} / ${q.max_concurrent || "∞"}`),
    el("li", {}, `cooldown ${q.cooldown_s} s`)), el("span", { class: "cid" }, `key ${q.key_id}`));
}

function providerTable(providers) {
  const head = ["#", "Provider", "Status", "Score", "Success", "p50", "Circuit", "Quota (this tenant's key)", "Models"];
  return el("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Providers" },
    el("table", { class: "providers" },
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, providers.map((p) => {
        const h = p.health || {};
        return el("tr", { "data-provider": p.id },
          el("td", {}, p.rank), el("th", { scope: "row" }, p.name, el("span", { class: "cid" }, p.id)),
          el("td", {}, el("span", { class: `badge s-${h.status || "unknown"}` }, h.status || "unknown"),
            el("span", { class: "cid" }, h.source ? `${h.source}: ${h.samples} call${h.samples === 1 ? "" : "s"}` : "no calls yet")),
          el("td", {}, h.score == null ? "–" : h.score.toFixed(2)), el("td", {}, pct(h.success_rate)), el("td", {}, secs(h.p50_s)),
          el("td", {}, el("span", { class: `badge c-${p.circuit}` }, p.circuit.replace("_", " "))),
          quotaCell(p.quota), el("td", {}, p.models.length));
      }))));
}

function usageTable(rows) {
  if (!rows.length) return el("p", {}, "No usage in the last 7 days.");
  const head = ["Day", "Model", "Requests", "Errors", "Tokens in", "Tokens out", "Cost"];
  return el("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Usage per day and model" },
    el("table", { class: "usage" },
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, el("td", {}, r.day), el("th", { scope: "row" }, r.model),
        el("td", {}, r.requests), el("td", {}, r.errors), el("td", {}, r.input_tokens.toLocaleString("en")),
        el("td", {}, r.output_tokens.toLocaleString("en")), el("td", {}, `$${r.cost_usd.toFixed(6)}`))))));
}

export function renderProviders(main) {
  const controller = new AbortController();
  main.replaceChildren(el("h1", {}, "Providers"), el("p", {}, "Loading…"));
  Promise.all([api("/v1/providers", { signal: controller.signal }), api("/v1/usage?days=7", { signal: controller.signal })])
    .then(([providers, usage]) => main.replaceChildren(el("h1", {}, "Providers"),
      el("p", { class: "sub" }, "In fallback order (the health beat's ranking)."), providerTable(providers.data),
      el("h2", {}, `Usage of ${usage.tenant}, last 7 days`), usageTable(usage.data)))
    .catch((e) => { if (e.name !== "AbortError") main.replaceChildren(el("h1", {}, "Providers"), el("p", { class: "error", role: "alert" }, e.message)); });
  return () => controller.abort();
}
